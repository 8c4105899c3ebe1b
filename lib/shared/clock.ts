/**
 * The clock of the inbound verifier and key store, in ms since the epoch. Not part of the
 * package's API: the library's own tests move it to cross expiry and cache boundaries.
 */
export const clock: { now: () => number } = { now: Date.now };
