import { OperatorLog, type OperatorLogSink } from '../../shared/telemetry/operator.log.js';
import {
  withoutUndefined,
  type CloudRunAuthTelemetry,
  type TokenFetchAttributes,
} from '../../shared/telemetry/cloud-run-auth.telemetry.js';
import { SPAN_STATUS_ERROR, type OtelSpan } from '../../shared/telemetry/opentelemetry-api.js';
import { TOKEN_FETCH_SPAN, type TokenSource } from '../../shared/telemetry/telemetry.names.js';
import { fetchFailureHint, fetchFailureReason } from './fetch-failure.js';
import { GoogleIdTokenProvider } from './google-id-token.provider.js';
import type { IdTokenProvider } from './id-token.provider.js';

/** Which fetch is observed. */
export interface TokenFetchLabels {
  /** The client whose request started the fetch, when known. */
  readonly service: string | undefined;
  readonly audience: string;
  readonly provider: IdTokenProvider;
  /** When the cached token a background refresh replaces stops being served (ms epoch); absent for a miss. */
  readonly servingUntil?: number;
}

/**
 * Observes the token cache's fetches: a span around each (a child of the request that waited,
 * with its source and outcome), the fetch counter and duration, and one operator line per
 * distinct failure cause per interval.
 */
export class TokenFetchObserver {
  private readonly log: OperatorLog;

  constructor(
    private readonly telemetry: CloudRunAuthTelemetry,
    sink: OperatorLogSink,
    /** Whether the application is shutting down: fetches it aborts are not failures to report. */
    private readonly closing: () => boolean,
  ) {
    this.log = new OperatorLog(sink);
  }

  /** Runs `fetch` (one shared fetch, retries included) observed. */
  observe(labels: TokenFetchLabels, fetch: () => Promise<string>): Promise<string> {
    const { metrics, tracing } = this.telemetry;
    const started = metrics && performance.now();
    const run = async (span?: OtelSpan) => {
      try {
        const token = await fetch();
        this.record(labels, { outcome: 'ok' }, started, span);
        return token;
      } catch (error) {
        const reason = fetchFailureReason(error, this.closing());
        const source = this.record(labels, { outcome: 'error', reason }, started, span);
        if (reason !== 'shutdown') this.report(labels, source, reason, error);
        throw error;
      }
    };
    if (!tracing) return run();
    return tracing.inSpan(
      TOKEN_FETCH_SPAN,
      withoutUndefined({ service: labels.service, audience: labels.audience }),
      run,
    );
  }

  private record(
    { service, audience, provider }: TokenFetchLabels,
    result: Pick<TokenFetchAttributes, 'outcome' | 'reason'>,
    started: number | undefined,
    span: OtelSpan | undefined,
  ): TokenSource {
    const source = tokenSourceOf(provider);
    const attributes: TokenFetchAttributes = { service, audience, source, ...result };
    if (started !== undefined) this.telemetry.metrics?.tokenFetched(attributes, (performance.now() - started) / 1000);
    if (span) {
      span.setAttributes(withoutUndefined({ source, outcome: result.outcome, reason: result.reason }));
      if (result.reason) span.setStatus({ code: SPAN_STATUS_ERROR, message: result.reason });
    }
    return source;
  }

  private report(
    { service, audience, servingUntil }: TokenFetchLabels,
    source: TokenSource,
    reason: ReturnType<typeof fetchFailureReason>,
    error: unknown,
  ): void {
    const left = servingUntil === undefined ? undefined : Math.max(Math.round((servingUntil - Date.now()) / 1000), 0);
    const summary =
      left === undefined
        ? 'ID-token fetch failed'
        : `Background ID-token refresh failed; serving the cached token (valid ${left} s more)`;
    // IdTokenFetchError messages name endpoints and files, never a token.
    const message = error instanceof Error ? error.message : String(error);
    this.log.report(
      summary,
      { service, audience, source, reason },
      { check: fetchFailureHint(reason, source, error), error: message },
    );
  }
}

/** The source label of a provider: the kind of Google credentials it found, or `custom`. */
export function tokenSourceOf(provider: IdTokenProvider): TokenSource {
  return provider instanceof GoogleIdTokenProvider ? (provider.credentialKind ?? 'unknown') : 'custom';
}
