import type { JetStreamClient } from '@nats-io/jetstream';
import { AuditRecorded, type DataOf, encodeMessage, Subjects } from '@ttm/contracts';
import { type Logger, publishMessage } from '@ttm/service-kit';
import type { FastifyRequest } from 'fastify';
import type { Counter } from 'prom-client';

type AuditData = DataOf<typeof AuditRecorded>;

export interface AuditEntry {
  actor: AuditData['actor'];
  action: string;
  /** Tenant id, or `system`. */
  scope: string;
  target?: AuditData['target'];
  outcome: AuditData['outcome'];
  detail?: string | null;
}

/**
 * Writes who did what to the AUDIT stream. The entry is durable before the answer goes
 * out: an admin action nobody can later find is worse than a slower answer.
 */
export class AuditRecorder {
  constructor(
    private readonly js: JetStreamClient,
    private readonly logger: Logger,
    /** `audit_write_failures_total{action}`: entries a best-effort write could not store. */
    private readonly failures?: Counter<'action'>,
  ) {}

  /**
   * Record, but never fail the caller: for sign-in, which must keep working when AUDIT is full
   * (STREAM_MAX_BYTES, discard new) or NATS is away. A lost entry is logged whole and counted.
   */
  async recordBestEffort(entry: AuditEntry, request?: FastifyRequest): Promise<void> {
    try {
      await this.record(entry, request);
    } catch {
      this.failures?.inc({ action: entry.action });
    }
  }

  async record(entry: AuditEntry, request?: FastifyRequest): Promise<void> {
    const data: AuditData = {
      actor: entry.actor,
      action: entry.action,
      scope: entry.scope,
      target: entry.target ?? null,
      clientAddress: request?.ip ?? null,
      requestId: request ? String(request.id) : null,
      outcome: entry.outcome,
      detail: entry.detail ?? null,
      at: new Date().toISOString(),
    };
    const message = encodeMessage(AuditRecorded, data, { source: '/ttm/gateway', subject: entry.scope });
    try {
      await publishMessage(this.js, Subjects.audit(entry.scope, entry.action), message);
    } catch (error) {
      // Never lose it silently: the log line carries the whole entry for later recovery.
      this.logger.error({ err: error, audit: data }, 'audit entry could not be written to AUDIT');
      throw error;
    }
  }
}
