/**
 * Exit codes of `cloud-run-auth doctor`, listed in its `--help`: 0 works; 1 misconfigured here
 * (local configuration, credentials, a token for the wrong audience, the emulator or metadata
 * server not reachable); 2 bad command line; 3 refused by the target for a reason on its side.
 */
export const EXIT = { works: 0, here: 1, usage: 2, target: 3 } as const;

/** One of {@link EXIT}'s values. */
export type DoctorExitCode = (typeof EXIT)[keyof typeof EXIT];

/** What a check concluded: one cause, one next step, and the exit code they mean. */
export interface Finding {
  /** Why, in one sentence; never a token, a signature or a key. */
  cause: string;
  /** The one thing to do about it, with what is known filled in and placeholders for the rest. */
  nextStep: string;
  exitCode: DoctorExitCode;
}
