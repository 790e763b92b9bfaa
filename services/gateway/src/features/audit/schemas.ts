import { AuditAction } from '@ttm/contracts';
import { z } from 'zod';
import { Cursor, Limit, Time } from '../tenants/schemas.js';

export const AuditQuery = z.object({
  tenant: z.string().min(1).max(64).optional().describe('Tenant id (or `system`) the entries are about'),
  actor: z.string().min(1).max(210).optional().describe('Actor id, or `kind:id` (admin:ops@example.com)'),
  action: AuditAction.optional(),
  from: Time.optional().describe('Entries at or after this time'),
  to: Time.optional().describe('Entries before this time'),
  limit: Limit,
  cursor: Cursor.optional(),
});
export type AuditQuery = z.output<typeof AuditQuery>;

export const AuditItem = z.object({
  id: z.string().describe('CloudEvent id of the entry'),
  time: Time,
  actor: z.object({ kind: z.enum(['admin', 'user', 'system']), id: z.string() }),
  action: z.string(),
  scope: z.string().describe('Tenant id, or `system`'),
  target: z.string().nullable().describe('Id of what was acted on'),
  target_kind: z.string().nullable(),
  client_address: z.string().nullable(),
  request_id: z.string().nullable(),
  outcome: z.enum(['success', 'failure']),
  detail: z.string().nullable(),
});
export type AuditItem = z.output<typeof AuditItem>;

export const AuditPage = z.object({
  items: z.array(AuditItem).describe('Newest first'),
  next_cursor: z.string().nullable(),
});
