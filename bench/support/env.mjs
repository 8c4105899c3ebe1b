// Makes this process see the emulator, and nothing real, as its Google environment.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Both our GoogleIdTokenProvider and google-auth-library's GoogleAuth fall back to the metadata
 * server only when no credentials file is found, so the variables and the gcloud config dir that
 * could point at real credentials are cleared; GCE_METADATA_HOST sends both to the emulator.
 * Call before creating any client.
 */
export function useEmulatorAsGoogle(emulator) {
  delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
  delete process.env.GCE_METADATA_IP;
  delete process.env.GCE_METADATA_HOST;
  delete process.env.METADATA_SERVER_DETECTION;
  process.env.CLOUDSDK_CONFIG = mkdtempSync(join(tmpdir(), 'bench-gcloud-'));
  process.env.GCE_METADATA_HOST = emulator.metadataHost;
  // What Cloud Run sets. Off GCP, google-auth-library (gcp-metadata) gives each metadata request a
  // 3 s timeout; on Cloud Run, where both libraries are meant to run, it sets none.
  process.env.K_SERVICE = 'bench';
}

/** The metadata path both clients ask for ID tokens on (google-auth-library uses `default` too). */
export const IDENTITY_PATH = '/computeMetadata/v1/instance/service-accounts/default/identity';
