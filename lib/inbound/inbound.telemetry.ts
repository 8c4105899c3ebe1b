import type {
  CloudRunAuthMetrics,
  CloudRunAuthTelemetry,
  CloudRunAuthTracing,
} from '../shared/telemetry/cloud-run-auth.telemetry.js';
import type { CounterSeries, LocalCounter } from '../shared/telemetry/local.counter.js';
import type { Attributes, OtelHistogram } from '../shared/telemetry/opentelemetry-api.js';
import { INBOUND_REJECTED_EVENT } from '../shared/telemetry/telemetry.names.js';

/** Distinct caller emails given their own series; the rest are counted as `caller: "other"`. */
const MAX_CALLER_SERIES = 1000;

/** What the inbound metrics are labelled with: the verifier's configuration. */
export interface InboundTelemetryLabels {
  readonly mode: string;
  readonly audiences: readonly string[];
}

/**
 * What `CloudRunAuthGuard` records: decisions (a counter increment each), verification
 * durations and a span event per refusal. Every attribute set is built once, so that a decision
 * costs an increment (the guard's cached decisions time a sample of their lookups). Without
 * metrics, {@link start} returns `undefined` and nothing is timed.
 */
export class InboundTelemetry {
  private readonly decisions: LocalCounter | undefined;
  private readonly verifyDuration: OtelHistogram | undefined;
  private readonly tracing: CloudRunAuthTracing | undefined;
  private readonly labels: Attributes;
  private readonly allowedSeries: CounterSeries | undefined;
  private readonly callerSeries: Map<string, CounterSeries> | undefined;
  private readonly rejectedSeries = new Map<string, CounterSeries>();
  private readonly cachedAttributes: Attributes;
  private readonly verifiedAttributes: Attributes;

  constructor(telemetry: CloudRunAuthTelemetry, labels: InboundTelemetryLabels) {
    const metrics: CloudRunAuthMetrics | undefined = telemetry.metrics;
    this.decisions = metrics?.decisions;
    this.verifyDuration = metrics?.verifyDuration;
    this.tracing = telemetry.tracing;
    this.labels = Object.freeze({ mode: labels.mode, audience: labels.audiences.join(',') });
    // Only `cached`: a histogram record hashes each of its attributes, which on a cache hit is
    // most of the cost. The application's mode and audience are on decisions.
    this.cachedAttributes = Object.freeze({ cached: true });
    this.verifiedAttributes = Object.freeze({ cached: false });
    if (telemetry.callerEmailAttribute) this.callerSeries = new Map();
    else this.allowedSeries = this.decisions?.seriesFor('allowed', { ...this.labels, outcome: 'allowed' });
  }

  /** Whether decisions are counted (an OpenTelemetry `MeterProvider` was registered); else only refusals add span events. */
  get recordsMetrics(): boolean {
    return this.decisions !== undefined;
  }

  /** A start time for {@link verified} when durations are recorded, else `undefined` (no clock read). */
  start(): number | undefined {
    return this.verifyDuration && performance.now();
  }

  /** Records a verification's duration; `cached` when the verified-token cache answered. */
  verified(started: number | undefined, cached: boolean): void {
    if (started === undefined) return;
    this.verifyDuration!.record(
      (performance.now() - started) / 1000,
      cached ? this.cachedAttributes : this.verifiedAttributes,
    );
  }

  /** Counts a request the guard let through. */
  allowed(caller: { readonly email?: string }): void {
    if (this.allowedSeries) this.allowedSeries.value++;
    else if (this.callerSeries) this.callerAllowed(caller.email ?? '');
  }

  /** Counts a refusal by reason and adds an event to the active span (never the token or the caller). */
  rejected(reason: string, status: number): void {
    if (this.decisions) {
      let series = this.rejectedSeries.get(reason);
      if (!series) {
        series = this.decisions.seriesFor(`rejected\n${reason}`, { ...this.labels, outcome: 'rejected', reason });
        this.rejectedSeries.set(reason, series);
      }
      series.value++;
    }
    this.tracing?.event(INBOUND_REJECTED_EVENT, { ...this.labels, reason, status });
  }

  private callerAllowed(email: string): void {
    if (!this.decisions) return;
    const map = this.callerSeries!;
    let series = map.get(email);
    if (!series) {
      const caller = map.size >= MAX_CALLER_SERIES ? 'other' : email === '' ? 'none' : email;
      series = this.decisions.seriesFor(`allowed\n${caller}`, { ...this.labels, outcome: 'allowed', caller });
      if (caller !== 'other') map.set(email, series);
    }
    series.value++;
  }
}
