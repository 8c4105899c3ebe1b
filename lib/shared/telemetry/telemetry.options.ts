import { CloudRunAuthConfigError } from '../errors/config.error.js';
import { assertKnownKeys, assertObject } from '../options/option.assertions.js';

/** OpenTelemetry metrics and spans of the module (`telemetry` in the module options). */
export interface TelemetryOptions {
  /**
   * Record metrics and spans through `@opentelemetry/api`, an optional peer dependency. They go
   * to the `MeterProvider` and `TracerProvider` registered when the application boots: start
   * the OpenTelemetry SDK before `NestFactory.create()`. `false` records nothing.
   * @default true when `@opentelemetry/api` can be loaded, else false
   */
  enabled?: boolean;
  /**
   * Put the caller's email on allowed inbound decisions (`caller` attribute). Off by default:
   * an email is personal data, and with `allowAnyCaller` its values are unbounded. Rejections
   * never carry it (the caller chooses it). At most 1000 distinct emails are kept; more are
   * counted as `caller: "other"`.
   * @default false
   */
  callerEmailAttribute?: boolean;
}

/** {@link TelemetryOptions} after validation (frozen). */
export interface ResolvedTelemetryOptions {
  /** `undefined`: on when `@opentelemetry/api` loads. */
  readonly enabled: boolean | undefined;
  readonly callerEmailAttribute: boolean;
}

/**
 * Validates `telemetry` options.
 * @throws CloudRunAuthConfigError naming the field (`telemetry.enabled`).
 */
export function resolveTelemetryOptions(options: TelemetryOptions | undefined): ResolvedTelemetryOptions {
  if (options === undefined) return Object.freeze({ enabled: undefined, callerEmailAttribute: false });
  assertObject(options as unknown, 'telemetry');
  assertKnownKeys(options, ['enabled', 'callerEmailAttribute'], 'telemetry');
  const { enabled, callerEmailAttribute = false } = options;
  if (enabled !== undefined && typeof enabled !== 'boolean') {
    throw new CloudRunAuthConfigError('must be a boolean', 'telemetry.enabled');
  }
  if (typeof callerEmailAttribute !== 'boolean') {
    throw new CloudRunAuthConfigError('must be a boolean', 'telemetry.callerEmailAttribute');
  }
  return Object.freeze({ enabled, callerEmailAttribute });
}
