/** Set in every Cloud Run container: `K_SERVICE` in services (and functions), `CLOUD_RUN_JOB` in jobs. */
export const CLOUD_RUN_VARIABLES = ['K_SERVICE', 'CLOUD_RUN_JOB'] as const;

/** The Cloud Run variable set in `env` when the process runs on Cloud Run; `undefined` elsewhere. */
export function cloudRunVariable(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return CLOUD_RUN_VARIABLES.find((name) => env[name]);
}
