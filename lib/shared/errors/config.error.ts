/**
 * Thrown at application boot when the module's configuration is invalid.
 * The message names the service (or `inbound`) and the field at fault.
 */
export class CloudRunAuthConfigError extends Error {
  override readonly name = 'CloudRunAuthConfigError';

  constructor(
    /** What is wrong, without the field: `must be an https: URL, ...`. */
    readonly problem: string,
    /** Where the problem is, e.g. `services[orders].url` or `inbound.allowedCallers`. */
    readonly field: string,
  ) {
    super(`nestjs-cloud-run-auth: invalid configuration at ${field}: ${problem}`);
  }
}
