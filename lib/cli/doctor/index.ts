/**
 * `nestjs-cloud-run-auth/doctor`: what `CloudRunAuthGuard` would do with a token, and why, as a
 * function (the `cloud-run-auth doctor verify` command runs it).
 */
export { diagnoseToken } from './token.diagnosis.js';
export type {
  CallerDecision,
  FailedClaim,
  TokenDiagnosis,
  TokenDiagnosisOptions,
} from './token-diagnosis.interface.js';
export type { TokenClaims, TokenKind, TokenSummary } from './token.summary.js';
