import 'reflect-metadata';
import { ConsoleLogger, Logger } from '@nestjs/common';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clock } from '../lib/shared/clock.js';

// Tests must never pick up the developer's own Google credentials or reach the real metadata server.
delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
process.env.CLOUDSDK_CONFIG = mkdtempSync(join(tmpdir(), 'gcloud-empty-'));
// GCE_METADATA_IP wins over GCE_METADATA_HOST (google-auth-library's order), so it must not leak in.
delete process.env.GCE_METADATA_IP;
process.env.GCE_METADATA_HOST = '127.0.0.1:9';
// Off Cloud Run, whatever an earlier file of this worker set.
delete process.env.K_SERVICE;
delete process.env.CLOUD_RUN_JOB;

// Files share a worker's modules (vitest.config.ts): undo what an earlier file may have set.
Logger.overrideLogger(new ConsoleLogger());
clock.now = Date.now;
