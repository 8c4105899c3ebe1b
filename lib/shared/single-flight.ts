/** What ends one caller's wait; the shared operation goes on for the others. */
export interface WaitOptions {
  /** Aborting it rejects this caller's wait at once, with the signal's reason. */
  signal?: AbortSignal;
  /** Most time this caller waits, in ms. */
  timeoutMs?: number;
}

interface Flight {
  promise: Promise<unknown>;
  controller: AbortController;
  /** Ends the flight for its callers now, whatever the operation does. */
  reject: (error: Error) => void;
}

/**
 * At most one operation in flight per key; concurrent callers share it. The operation owns its
 * `AbortController` and its timeout: when the timeout fires it is aborted, its callers get the
 * timeout's error and the key is free again, even if the operation ignores its signal. Callers
 * wait on their own terms ({@link waitFor}) and can leave without cancelling the others.
 */
export class SingleFlight<K> {
  private readonly flights = new Map<K, Flight>();

  /** Whether an operation for `key` is in flight. */
  has(key: K): boolean {
    return this.flights.has(key);
  }

  /**
   * The operation in flight for `key`, or `operation` started now. It settles with the
   * operation's outcome, or rejects with `onTimeout()` after `timeoutMs`.
   */
  run<T>(
    key: K,
    operation: (signal: AbortSignal) => Promise<T>,
    timeoutMs: number,
    onTimeout: () => Error,
  ): Promise<T> {
    const current = this.flights.get(key);
    if (current) return current.promise as Promise<T>;
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    let reject!: (error: Error) => void;
    const timeout = new Promise<never>((_, rejectTimeout) => {
      reject = rejectTimeout;
      timer = setTimeout(() => {
        const error = onTimeout();
        controller.abort(error);
        reject(error);
      }, timeoutMs);
      timer.unref();
    });
    const started = Promise.resolve().then(() => operation(controller.signal));
    // An operation that settles after its timeout has nobody left to tell.
    started.catch(() => undefined);
    const promise = Promise.race([started, timeout]).finally(() => {
      clearTimeout(timer);
      if (this.flights.get(key)?.promise === promise) this.flights.delete(key);
    });
    this.flights.set(key, { promise, controller, reject });
    return promise;
  }

  /** Aborts every operation in flight (at shutdown); their callers get `reason(key)`. */
  abortAll(reason: (key: K) => Error): void {
    for (const [key, { controller, reject }] of this.flights) {
      const error = reason(key);
      controller.abort(error);
      reject(error);
    }
  }
}

/**
 * `promise`, or a rejection as soon as `options.signal` aborts (with its reason) or
 * `options.timeoutMs` passes (with `onTimeout()`), whichever comes first. Timers are unref'd.
 */
export function waitFor<T>(
  promise: Promise<T>,
  { signal, timeoutMs }: WaitOptions,
  onTimeout: () => Error,
): Promise<T> {
  if (!signal && timeoutMs === undefined) return promise;
  if (signal?.aborted) return Promise.reject(abortReason(signal));
  return new Promise<T>((resolve, reject) => {
    const timer = timeoutMs === undefined ? undefined : setTimeout(() => finish(reject, onTimeout()), timeoutMs);
    timer?.unref();
    const onAbort = () => finish(reject, abortReason(signal!));
    signal?.addEventListener('abort', onAbort, { once: true });
    function finish<V>(settle: (value: V) => void, value: V): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      settle(value);
    }
    promise.then(
      (value) => finish(resolve, value),
      (error: unknown) => finish(reject, error),
    );
  });
}

/** Sleeps `ms` without keeping the process alive; rejects with the signal's reason when it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return waitFor(
    new Promise<void>((resolve) => setTimeout(resolve, ms).unref()),
    { signal },
    () => new Error('unreachable'),
  );
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('This operation was aborted', 'AbortError');
}
