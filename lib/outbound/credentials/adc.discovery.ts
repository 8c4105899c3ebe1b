import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { IdTokenFetchError } from '../../shared/errors/id-token-fetch.error.js';
import type { CredentialSource } from './credential-source.interface.js';
import { sourceFromJson } from './credential-source.factory.js';
import type { CredentialsOptions } from './credentials.options.js';
import { ImpersonatedSource } from './impersonated.source.js';
import { metadataHostFromEnv } from './metadata.client.js';
import { MetadataSource } from './metadata.source.js';

/**
 * Application Default Credentials in ADC's own order: explicit `credentials`/`keyFile`,
 * `GOOGLE_APPLICATION_CREDENTIALS`, gcloud's well-known file, then the metadata server
 * (not probed: on Cloud Run it is always there, and elsewhere the first fetch says so).
 * `impersonate` wraps whatever was found.
 */
export async function discoverCredentials(
  options: CredentialsOptions & { metadataHost?: string },
  env: NodeJS.ProcessEnv,
): Promise<CredentialSource> {
  const base = await discoverBase(options, env);
  if (!options.impersonate) return base;
  return new ImpersonatedSource(base, options.impersonate, {
    delegates: options.delegates,
    iamCredentialsUrl: options.iamCredentialsUrl,
  });
}

async function discoverBase(options: CredentialsOptions & { metadataHost?: string }, env: NodeJS.ProcessEnv) {
  if (options.credentials) return sourceFromJson(options.credentials, 'the credentials option');
  if (options.keyFile)
    return sourceFromJson(await readJson(options.keyFile, `keyFile ${options.keyFile}`), `keyFile ${options.keyFile}`);
  const fromEnv = env.GOOGLE_APPLICATION_CREDENTIALS;
  if (fromEnv) {
    const origin = `GOOGLE_APPLICATION_CREDENTIALS=${fromEnv}`;
    return sourceFromJson(await readJson(fromEnv, origin), origin);
  }
  const configDir =
    env.CLOUDSDK_CONFIG ??
    (process.platform === 'win32' ? join(env.APPDATA ?? '', 'gcloud') : join(homedir(), '.config', 'gcloud'));
  const wellKnown = join(configDir, 'application_default_credentials.json');
  const origin = `gcloud's well-known file ${wellKnown}`;
  const json = await readJson(wellKnown, origin).catch((error: IdTokenFetchError) => {
    if (error.message.includes('ENOENT')) return undefined;
    throw error;
  });
  if (json) return sourceFromJson(json, origin);
  return new MetadataSource(options.metadataHost ?? metadataHostFromEnv(env));
}

async function readJson(path: string, origin: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new IdTokenFetchError(
      `cannot read credentials (${origin}): ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
      '',
      false,
    );
  }
  try {
    const json: unknown = JSON.parse(text);
    if (json && typeof json === 'object' && !Array.isArray(json)) return json as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw new IdTokenFetchError(`credentials (${origin}) are not a JSON object`, '', false);
}
