/**
 * The part of `@opentelemetry/api` 1.x this library uses, declared here so that the package's
 * type declarations never reference OpenTelemetry's: the API is an optional peer.
 */

/** Attribute values of metrics, spans and span events. */
export type Attributes = Record<string, string | number | boolean>;

export interface OtelCounter {
  add(value: number, attributes?: Attributes): void;
}

export interface OtelHistogram {
  record(value: number, attributes?: Attributes): void;
}

export interface OtelObservableResult {
  observe(value: number, attributes?: Attributes): void;
}

export type OtelObservableCallback = (result: OtelObservableResult) => void;

export interface OtelObservableCounter {
  addCallback(callback: OtelObservableCallback): void;
  removeCallback(callback: OtelObservableCallback): void;
}

export interface OtelInstrumentOptions {
  description?: string;
  unit?: string;
  /** Honoured by API 1.7 and later SDKs; ignored before. */
  advice?: { explicitBucketBoundaries?: number[] };
}

export interface OtelMeter {
  createCounter(name: string, options?: OtelInstrumentOptions): OtelCounter;
  createHistogram(name: string, options?: OtelInstrumentOptions): OtelHistogram;
  createObservableCounter(name: string, options?: OtelInstrumentOptions): OtelObservableCounter;
}

export interface OtelSpan {
  setAttributes(attributes: Attributes): OtelSpan;
  addEvent(name: string, attributes?: Attributes): OtelSpan;
  setStatus(status: { code: number; message?: string }): OtelSpan;
  end(): void;
}

export interface OtelTracer {
  startSpan(name: string, options?: { kind?: number; attributes?: Attributes }, context?: unknown): OtelSpan;
}

export interface OpenTelemetryApi {
  metrics: { getMeter(name: string): OtelMeter };
  trace: {
    getTracer(name: string): OtelTracer;
    getActiveSpan(): OtelSpan | undefined;
    setSpan(context: unknown, span: OtelSpan): unknown;
  };
  context: { active(): unknown; with<T>(context: unknown, fn: () => T): T };
  /** The meter the global API hands out while no `MeterProvider` is registered (API 1.3 and later). */
  createNoopMeter?: () => OtelMeter;
}

/** `SpanStatusCode.ERROR` of the API. */
export const SPAN_STATUS_ERROR = 2;
/** `SpanKind.INTERNAL` of the API. */
export const SPAN_KIND_INTERNAL = 0;

/**
 * `@opentelemetry/api`, or `undefined` when it is not installed. Loaded with a dynamic
 * `import()`, which each build compiles to its own module system, so that neither loads it
 * unless telemetry is wanted. The API keeps its providers on a process-wide global, so every
 * copy of it (ESM or CommonJS) sees the ones the application registered.
 */
export async function loadOpenTelemetryApi(): Promise<OpenTelemetryApi | undefined> {
  try {
    const api = (await import('@opentelemetry/api')) as unknown as OpenTelemetryApi & { default?: OpenTelemetryApi };
    // CommonJS interop may put the namespace under `default`.
    const resolved = typeof api.metrics?.getMeter === 'function' ? api : api.default;
    return typeof resolved?.metrics?.getMeter === 'function' ? resolved : undefined;
  } catch {
    return undefined;
  }
}
