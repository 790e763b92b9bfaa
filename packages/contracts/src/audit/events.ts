import { z } from 'zod';
import { defineEvent } from '../message.js';
import { Actor, Timestamp } from '../tenant/fields.js';

/** `tenant-suspended`, `login`, …: one subject token, so it can stand in `audit.<scope>.<action>`. */
export const AuditAction = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,63}$/, 'must be 1-64 of a-z, 0-9 and -, starting with a letter')
  .describe('What was done');

export const AuditRecorded = defineEvent({
  type: 'ttm.audit.recorded.v1',
  aggregate: 'audit',
  description: 'Who did what, when, from where, with what outcome (admin actions, logins)',
  schema: z.object({
    actor: Actor,
    action: AuditAction,
    /** A tenant id, or `system` for actions not about one tenant. */
    scope: z.string().min(1).max(64),
    target: z.object({ kind: z.string().min(1).max(32), id: z.string().min(1).max(200) }).nullable(),
    clientAddress: z.string().max(100).nullable(),
    requestId: z.string().max(128).nullable(),
    outcome: z.enum(['success', 'failure']),
    detail: z.string().max(1000).nullable(),
    at: Timestamp,
  }),
});

export const auditEvents = [AuditRecorded] as const;
