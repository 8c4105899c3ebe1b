/** Where operator lines go: a Nest `Logger`, or anything with `warn` and `debug`. */
export interface OperatorLogSink {
  warn(message: string): void;
  debug(message: string): void;
}

/** Values of a line's fields; `undefined` ones are left out. */
export type OperatorLogFields = Readonly<Record<string, string | number | boolean | undefined>>;

/** A cause is logged at warn at most once per this interval by default. */
export const OPERATOR_LOG_INTERVAL_MS = 60_000;
/** Causes remembered; beyond, the oldest is forgotten (its next line is a warning again). */
const MAX_CAUSES = 1000;

/**
 * Failure lines an operator can act on, one per distinct cause per interval: the first line of a
 * cause in an interval goes out at `warn` (with how many followed it in the previous interval),
 * the others at `debug`, so that a failing dependency or a misconfigured caller costs one
 * warning a minute, not one per request. A line is `summary: key=value …`, the fields that
 * identify the cause first (service, audience, source, reason), then `check=` (what to check)
 * and details. Fields never hold a token: callers pass codes, names and messages that never
 * contain one.
 */
export class OperatorLog {
  private readonly causes = new Map<string, { warnedAt: number; repeated: number }>();

  constructor(
    private readonly sink: OperatorLogSink,
    private readonly intervalMs = OPERATOR_LOG_INTERVAL_MS,
  ) {}

  /**
   * Logs one occurrence of a failure.
   * @param cause the fields that tell causes apart (their values must come from closed sets or
   *   the configuration, never from a request, so that their number stays bounded).
   * @param details further fields of this occurrence (`check`, `error`, …).
   * @returns whether the line went out at warn.
   */
  report(summary: string, cause: OperatorLogFields, details: OperatorLogFields = {}): boolean {
    const key = JSON.stringify(cause);
    const now = Date.now();
    const seen = this.causes.get(key);
    if (seen && now - seen.warnedAt < this.intervalMs) {
      seen.repeated++;
      this.sink.debug(`${summary}: ${formatFields({ ...cause, ...details })}`);
      return false;
    }
    const repeats = seen?.repeated || undefined;
    this.causes.delete(key);
    this.causes.set(key, { warnedAt: now, repeated: 0 });
    if (this.causes.size > MAX_CAUSES) this.causes.delete(this.causes.keys().next().value!);
    const seconds = Math.round(this.intervalMs / 1000);
    this.sink.warn(
      `${summary}: ${formatFields({ ...cause, ...details, repeats })} ` + `(repeats in the next ${seconds} s at debug)`,
    );
    return true;
  }
}

/** `key=value` pairs; a value with spaces, quotes or `=` is written as a JSON string. */
export function formatFields(fields: OperatorLogFields): string {
  return Object.entries(fields)
    .filter((entry): entry is [string, string | number | boolean] => entry[1] !== undefined)
    .map(
      ([key, value]) =>
        `${key}=${typeof value === 'string' && !/^[^\s"=]+$/.test(value) ? JSON.stringify(value) : value}`,
    )
    .join(' ');
}
