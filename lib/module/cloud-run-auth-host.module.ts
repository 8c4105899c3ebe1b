import { Module } from '@nestjs/common';
import { CloudRunAuthRegistry } from './cloud-run-auth.registry.js';

/**
 * Static, hence instantiated once per application: every `forRoot`, `forRootAsync` and
 * `forFeature` module imports it and shares its registry.
 */
@Module({ providers: [CloudRunAuthRegistry], exports: [CloudRunAuthRegistry] })
export class CloudRunAuthHostModule {}
