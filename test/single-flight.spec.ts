import { describe, expect, it } from 'vitest';
import { SingleFlight, sleep, waitFor } from '../lib/shared/single-flight.js';

const timeoutError = () => new Error('flight timed out');

/** An operation that settles only when told to, and records its signal. */
function controllable<T>() {
  let resolve!: (value: T) => void;
  let signal!: AbortSignal;
  let calls = 0;
  const operation = (s: AbortSignal) => {
    calls += 1;
    signal = s;
    return new Promise<T>((r) => (resolve = r));
  };
  return { operation, resolve: (v: T) => resolve(v), signal: () => signal, calls: () => calls };
}

describe('SingleFlight', () => {
  it('runs one operation per key for concurrent callers, and a new one once it settled', async () => {
    const flights = new SingleFlight<string>();
    const op = controllable<number>();
    const a = flights.run('k', op.operation, 10_000, timeoutError);
    const b = flights.run('k', op.operation, 10_000, timeoutError);
    expect(flights.has('k')).toBe(true);
    await Promise.resolve();
    op.resolve(7);
    expect(await Promise.all([a, b])).toEqual([7, 7]);
    expect(op.calls()).toBe(1);
    expect(flights.has('k')).toBe(false);
    const c = flights.run('k', op.operation, 10_000, timeoutError);
    await Promise.resolve();
    op.resolve(8);
    expect(await c).toBe(8);
    expect(op.calls()).toBe(2);
  });

  it('one caller leaving (its signal, its deadline) does not end the operation for the others', async () => {
    const flights = new SingleFlight<string>();
    const op = controllable<string>();
    const leaving = new AbortController();
    const shared = flights.run('k', op.operation, 10_000, timeoutError);
    const first = waitFor(shared, { signal: leaving.signal }, timeoutError);
    const second = waitFor(shared, { timeoutMs: 20 }, () => new Error('second gave up'));
    const third = waitFor(shared, {}, timeoutError);
    leaving.abort(new Error('first left'));
    await expect(first).rejects.toThrow('first left');
    await expect(second).rejects.toThrow('second gave up');
    expect(op.signal().aborted).toBe(false);
    op.resolve('done');
    await expect(third).resolves.toBe('done');
  });

  it('a timed-out operation is aborted, its callers get the timeout, and the key is free at once', async () => {
    const flights = new SingleFlight<string>();
    const hung = controllable<string>();
    const shared = flights.run('k', hung.operation, 30, timeoutError);
    await expect(shared).rejects.toThrow('flight timed out');
    expect(hung.signal().aborted).toBe(true);
    expect(flights.has('k')).toBe(false);
    const next = controllable<string>();
    const again = flights.run('k', next.operation, 1000, timeoutError);
    await Promise.resolve();
    next.resolve('fresh');
    await expect(again).resolves.toBe('fresh');
  });

  it('abortAll ends every flight with its own reason, whatever the operations do', async () => {
    const flights = new SingleFlight<string>();
    const [a, b] = [controllable<string>(), controllable<string>()];
    const pa = flights.run('a', a.operation, 10_000, timeoutError);
    const pb = flights.run('b', b.operation, 10_000, timeoutError);
    await Promise.resolve();
    flights.abortAll((key) => new Error(`closing ${key}`));
    await expect(pa).rejects.toThrow('closing a');
    await expect(pb).rejects.toThrow('closing b');
    expect(a.signal().aborted && b.signal().aborted).toBe(true);
  });

  it('sleep is cut short by its signal', async () => {
    const controller = new AbortController();
    const slept = sleep(10_000, controller.signal);
    controller.abort(new Error('stop'));
    await expect(slept).rejects.toThrow('stop');
  });
});
