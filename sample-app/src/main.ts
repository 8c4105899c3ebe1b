import 'reflect-metadata';
import { readServiceConfig, SampleConfigError, selectService } from './config.js';

/**
 * `npm start`. On Cloud Run (or with `SAMPLE_SERVICE` set) it runs one service, `gateway` or
 * `orders`; on a laptop, with neither set, it runs the whole local demo: the emulator and both
 * services as child processes of this one.
 */
async function main(): Promise<void> {
  const service = selectService(process.env);
  if (service) {
    // Validate the environment before loading Nest: a misconfigured revision fails in milliseconds.
    const config = readServiceConfig(service, process.env);
    const { serve } = await import('./serve.js');
    await serve(config);
  } else {
    const { runDemoCli } = await import('./demo/demo.cli.js');
    await runDemoCli();
  }
}

main().catch((error: unknown) => {
  if (error instanceof SampleConfigError) {
    process.stderr.write(`configuration error: ${error.message}\n`);
  } else {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  }
  process.exit(1);
});
