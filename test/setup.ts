import 'reflect-metadata';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Tests must never pick up the developer's own Google credentials or reach the real metadata server.
delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
process.env.CLOUDSDK_CONFIG = mkdtempSync(join(tmpdir(), 'gcloud-empty-'));
// GCE_METADATA_IP wins over GCE_METADATA_HOST (google-auth-library's order), so it must not leak in.
delete process.env.GCE_METADATA_IP;
process.env.GCE_METADATA_HOST = '127.0.0.1:9';
