import { context, metrics, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { DataPointType, MeterProvider, MetricReader, type MetricData } from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';

/** A reader that collects on demand, as a periodic exporter would at its next tick. */
class CollectingReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

/** One data point of a sum or a histogram: `value` is the sum's value, or the histogram's count. */
export interface Point {
  metric: string;
  attributes: Record<string, unknown>;
  value: number;
  /** Histograms only. */
  sum?: number;
}

/** An OpenTelemetry SDK as an application starts it before Nest: global providers and a context manager. */
export interface OpenTelemetrySdk {
  /** Every data point collected now, of this library's meter. */
  points(): Promise<Point[]>;
  /** The summed value (sums) or count (histograms) of `metric`'s points whose attributes include `attributes`. */
  total(metric: string, attributes?: Record<string, unknown>): Promise<number>;
  /** Spans ended so far. */
  spans(): ReadableSpan[];
  /** Removes the global providers and context manager (after each test). */
  shutdown(): Promise<void>;
}

/** Registers a `MeterProvider`, a `TracerProvider` (in-memory) and an AsyncLocalStorage context manager globally. */
export function startOpenTelemetry(): OpenTelemetrySdk {
  const reader = new CollectingReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  metrics.setGlobalMeterProvider(meterProvider);
  trace.setGlobalTracerProvider(tracerProvider);
  const points = async (): Promise<Point[]> => {
    const { resourceMetrics } = await reader.collect();
    const data: MetricData[] = resourceMetrics.scopeMetrics
      .filter((scope) => scope.scope.name === 'nestjs-cloud-run-auth')
      .flatMap((scope) => scope.metrics);
    return data.flatMap((metric) =>
      (metric.dataPoints as { attributes: Record<string, unknown>; value: unknown }[]).map(({ attributes, value }) =>
        metric.dataPointType === DataPointType.HISTOGRAM
          ? {
              metric: metric.descriptor.name,
              attributes,
              value: (value as { count: number }).count,
              sum: (value as { sum: number }).sum,
            }
          : { metric: metric.descriptor.name, attributes, value: value as number },
      ),
    );
  };
  return {
    points,
    async total(metric, attributes = {}) {
      const matching = (await points()).filter(
        (point) =>
          point.metric === metric &&
          Object.entries(attributes).every(([key, value]) => point.attributes[key] === value),
      );
      return matching.reduce((total, point) => total + point.value, 0);
    },
    spans: () => exporter.getFinishedSpans(),
    async shutdown() {
      metrics.disable();
      trace.disable();
      context.disable();
      await meterProvider.shutdown();
      await tracerProvider.shutdown();
    },
  };
}
