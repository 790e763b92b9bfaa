/** The audit log: recording (AUDIT stream), its projection and `GET /api/admin/audit`. */
export { auditProjection, searchAuditLog } from './auditLog.js';
export { AuditRecorder } from './recorder.js';
export { type RefusedLogin, RefusedLoginAudit } from './refusedLogins.js';
export { auditRoutes } from './routes.js';
export { AuditItem, AuditPage, AuditQuery } from './schemas.js';
