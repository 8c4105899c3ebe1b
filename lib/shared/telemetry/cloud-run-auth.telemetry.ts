import { LocalCounter, type CounterSeries } from './local.counter.js';
import {
  loadOpenTelemetryApi,
  SPAN_KIND_INTERNAL,
  type Attributes,
  type OpenTelemetryApi,
  type OtelCounter,
  type OtelHistogram,
  type OtelMeter,
  type OtelSpan,
  type OtelTracer,
} from './opentelemetry-api.js';
import {
  INSTRUMENTATION_NAME,
  METRIC,
  type CacheLookupResult,
  type JwksFetchCause,
  type TokenSource,
} from './telemetry.names.js';
import type { ResolvedTelemetryOptions } from './telemetry.options.js';

/** Seconds, from a metadata-server answer to a fetch that retries until its deadline. */
const FETCH_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Seconds, from a verified-token cache hit to a verification that waits for a key fetch. */
const VERIFY_BUCKETS = [1e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 5e-3, 0.025, 0.1, 0.5, 2.5];
const LOOKUP_RESULTS: readonly CacheLookupResult[] = ['hit', 'refresh_ahead', 'stale_served', 'miss'];

/** Attributes of one token fetch (the shared fetch of a cache entry, retries included). */
export type TokenFetchAttributes = {
  /** The client whose request started the fetch, when known. */
  service?: string;
  audience: string;
  source: TokenSource;
  outcome: 'ok' | 'error';
  /** The failure reason, on error (a closed set). */
  reason?: string;
};

/** The module's instruments, resolved once from the meter the application's SDK provides. */
export class CloudRunAuthMetrics {
  private readonly tokenFetches: OtelCounter;
  private readonly tokenFetchDuration: OtelHistogram;
  private readonly lookups: LocalCounter;
  private readonly lookupSeries = new Map<string, Record<CacheLookupResult, CounterSeries>>();
  private readonly retries: OtelCounter;
  private readonly jwksFetches: OtelCounter;
  /** Inbound instruments, used through {@link InboundTelemetry}. */
  readonly decisions: LocalCounter;
  readonly verifyDuration: OtelHistogram;

  constructor(meter: OtelMeter) {
    this.tokenFetches = meter.createCounter(METRIC.tokenFetches, {
      description: 'ID-token fetches from the credential source (one per shared fetch, retries included)',
    });
    this.tokenFetchDuration = meter.createHistogram(METRIC.tokenFetchDuration, {
      description: 'Duration of ID-token fetches, retries included',
      unit: 's',
      advice: { explicitBucketBoundaries: FETCH_BUCKETS },
    });
    this.lookups = new LocalCounter(
      meter.createObservableCounter(METRIC.cacheLookups, { description: 'ID-token cache lookups by result' }),
    );
    this.retries = meter.createCounter(METRIC.outboundRetries, {
      description: 'Requests replayed with a fresh ID token after the target answered 401',
    });
    this.decisions = new LocalCounter(
      meter.createObservableCounter(METRIC.inboundDecisions, { description: 'Inbound requests allowed or rejected' }),
    );
    this.verifyDuration = meter.createHistogram(METRIC.verifyDuration, {
      description: 'Duration of inbound ID-token verification; cached: answered from the verified-token cache',
      unit: 's',
      advice: { explicitBucketBoundaries: VERIFY_BUCKETS },
    });
    this.jwksFetches = meter.createCounter(METRIC.jwksFetches, { description: 'Fetches of the signing keys (JWKS)' });
  }

  tokenFetched(attributes: TokenFetchAttributes, seconds: number): void {
    const recorded = withoutUndefined(attributes);
    this.tokenFetches.add(1, recorded);
    this.tokenFetchDuration.record(seconds, recorded);
  }

  /** Counts one lookup; an increment once the (service, audience) pair has been seen. */
  lookup(result: CacheLookupResult, service: string | undefined, audience: string): void {
    const key = `${service ?? ''}\n${audience}`;
    let series = this.lookupSeries.get(key);
    if (!series) {
      series = {} as Record<CacheLookupResult, CounterSeries>;
      for (const each of LOOKUP_RESULTS) {
        series[each] = this.lookups.seriesFor(`${key}\n${each}`, withoutUndefined({ service, audience, result: each }));
      }
      this.lookupSeries.set(key, series);
    }
    series[result].value++;
  }

  retried(service: string | undefined, audience: string): void {
    this.retries.add(1, withoutUndefined({ service, audience, cause: '401' }));
  }

  jwksFetched(outcome: 'ok' | 'error', cause: JwksFetchCause, certsUrl: string): void {
    this.jwksFetches.add(1, { outcome, cause, certs_url: certsUrl });
  }

  close(): void {
    this.lookups.close();
    this.decisions.close();
  }
}

/** Spans and span events, through the global tracer provider (none registered: nothing is recorded). */
export class CloudRunAuthTracing {
  private readonly tracer: OtelTracer;

  constructor(private readonly api: OpenTelemetryApi) {
    // The API's tracer is a proxy: a provider registered later is used from then on.
    this.tracer = api.trace.getTracer(INSTRUMENTATION_NAME);
  }

  /** Runs `operation` in a new span, a child of the active one, which is active inside it. */
  async inSpan<T>(name: string, attributes: Attributes, operation: (span: OtelSpan) => Promise<T>): Promise<T> {
    const parent = this.api.context.active();
    const span = this.tracer.startSpan(name, { kind: SPAN_KIND_INTERNAL, attributes }, parent);
    try {
      return await this.api.context.with(this.api.trace.setSpan(parent, span), () => operation(span));
    } finally {
      span.end();
    }
  }

  /** Adds an event to the active span, if there is one. */
  event(name: string, attributes: Attributes): void {
    this.api.trace.getActiveSpan()?.addEvent(name, attributes);
  }
}

/**
 * The application's telemetry: metrics when the OpenTelemetry API is installed, telemetry is
 * not disabled and a `MeterProvider` was registered before the module was initialised; spans
 * whenever the API is installed and telemetry is not disabled. Provided by the module's core.
 */
export class CloudRunAuthTelemetry {
  private constructor(
    /** `undefined` when no metric is recorded: callers skip even their timing then. */
    readonly metrics: CloudRunAuthMetrics | undefined,
    /** `undefined` when telemetry is off or the API is not installed. */
    readonly tracing: CloudRunAuthTracing | undefined,
    readonly callerEmailAttribute: boolean,
  ) {}

  /** Telemetry that records nothing. */
  static readonly off = new CloudRunAuthTelemetry(undefined, undefined, false);

  /**
   * Loads `@opentelemetry/api` (unless disabled) and resolves the instruments once, from the
   * providers registered now. `onMissingApi` is told when telemetry was asked for explicitly
   * but the API cannot be loaded.
   */
  static async create(
    options: ResolvedTelemetryOptions,
    onMissingApi: () => void = () => undefined,
  ): Promise<CloudRunAuthTelemetry> {
    if (options.enabled === false) return CloudRunAuthTelemetry.off;
    const api = await loadOpenTelemetryApi();
    if (!api) {
      if (options.enabled === true) onMissingApi();
      return CloudRunAuthTelemetry.off;
    }
    const meter = api.metrics.getMeter(INSTRUMENTATION_NAME);
    // Without a MeterProvider the API hands out its no-op meter: record (and time) nothing.
    const noop = api.createNoopMeter?.();
    const metrics = noop !== undefined && meter === noop ? undefined : new CloudRunAuthMetrics(meter);
    return new CloudRunAuthTelemetry(metrics, new CloudRunAuthTracing(api), options.callerEmailAttribute);
  }

  /** Stops reporting the counters of this application (its provider may outlive it). */
  onApplicationShutdown(): void {
    this.metrics?.close();
  }
}

/** The attributes with `undefined` values left out (OpenTelemetry drops them with a warning). */
export function withoutUndefined(attributes: { [key: string]: string | number | boolean | undefined }): Attributes {
  const result: Attributes = {};
  for (const [key, value] of Object.entries(attributes)) if (value !== undefined) result[key] = value;
  return result;
}
