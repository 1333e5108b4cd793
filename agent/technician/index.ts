export {
  TechnicianVerifier,
  type RefusalReason,
  type Refusal,
  type TechnicianPrincipal,
  type TimeView,
  type VerifierOptions,
} from './verify.js';
export { TechnicianRevocations, type RevocationOutcome } from './revocations.js';
export { TechnicianAudit, AUDIT_KEEP_ROWS, type AuditRecord, type AuditView } from './audit.js';
export * from './events.js';
