// `nestjs-cloud-run-auth/terminus`: the health indicator, in its own entry point so that the
// main one never loads @nestjs/terminus (an optional peer).
export {
  CloudRunAuthHealthIndicator,
  type CloudRunAuthHealthOptions,
  type ServiceTokenHealth,
  type SigningKeysHealth,
} from './cloud-run-auth.health-indicator.js';
