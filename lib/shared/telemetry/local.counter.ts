import type { Attributes, OtelObservableCallback, OtelObservableCounter } from './opentelemetry-api.js';

/** One attribute set of a {@link LocalCounter}: count with `series.value++`. */
export interface CounterSeries {
  value: number;
}

interface Series extends CounterSeries {
  readonly attributes: Attributes;
}

/**
 * A monotonic counter for hot paths. A synchronous OpenTelemetry counter hashes its attributes
 * on every `add()`, which costs more than a cached guard decision; here each attribute set is a
 * {@link CounterSeries} that callers keep and increment, and the counts are reported through an
 * observable counter when the SDK collects. The exported data is the same: a monotonic sum.
 */
export class LocalCounter {
  private readonly series = new Map<string, Series>();
  private readonly callback: OtelObservableCallback = (result) => {
    for (const { value, attributes } of this.series.values()) result.observe(value, attributes);
  };

  constructor(private readonly instrument: OtelObservableCounter) {
    instrument.addCallback(this.callback);
  }

  /** The series of `attributes`, known by `key` (unique per attribute set); created on first use. */
  seriesFor(key: string, attributes: Attributes): CounterSeries {
    let series = this.series.get(key);
    if (!series) this.series.set(key, (series = { value: 0, attributes: Object.freeze({ ...attributes }) }));
    return series;
  }

  /** Stops reporting (at application shutdown): the provider may outlive the application. */
  close(): void {
    this.instrument.removeCallback(this.callback);
  }
}
