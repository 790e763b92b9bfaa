import { AuditRecorded, Consumers, consumerDefinition } from '@ttm/contracts';
import { isMessage, type Pool, type ProjectionDefinition } from '@ttm/service-kit';
import { z } from 'zod';
import { decodeCursor, encodeCursor } from '../../cursor.js';
import { GATEWAY_SCHEMA } from '../tenants/projection.js';
import type { AuditItem, AuditQuery } from './schemas.js';

const consumer = consumerDefinition(Consumers.gatewayAudit);

/**
 * The audit log operators search (`GET /api/admin/audit`): one row per entry of the AUDIT
 * stream, keyed by its stream sequence, so a replay rebuilds exactly the same rows.
 */
export const auditProjection: ProjectionDefinition = {
  name: 'gateway-audit',
  schema: GATEWAY_SCHEMA,
  consumer,
  async apply(client, event) {
    if (!isMessage(event, AuditRecorded)) return;
    const e = event.data;
    await client.query(
      `INSERT INTO ${GATEWAY_SCHEMA}.audit_log
         (seq, id, recorded_at, actor_kind, actor_id, action, scope, target_kind, target_id, client_address,
          request_id, outcome, detail)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
       ON CONFLICT DO NOTHING`,
      [
        event.seq,
        event.meta.id,
        e.at,
        e.actor.kind,
        e.actor.id,
        e.action,
        e.scope,
        e.target?.kind ?? null,
        e.target?.id ?? null,
        e.clientAddress,
        e.requestId,
        e.outcome,
        e.detail,
      ],
    );
  },
  async reset(client) {
    await client.query(`TRUNCATE ${GATEWAY_SCHEMA}.audit_log`);
  },
};

interface AuditRow {
  seq: string;
  id: string;
  recorded_at: Date;
  actor_kind: AuditItem['actor']['kind'];
  actor_id: string;
  action: string;
  scope: string;
  target_kind: string | null;
  target_id: string | null;
  client_address: string | null;
  request_id: string | null;
  outcome: AuditItem['outcome'];
  detail: string | null;
}

const AuditCursor = z.tuple([z.number().int().positive()]);
const actorKinds = new Set(['admin', 'user', 'system']);

/** A page of the audit log, newest first (by stream sequence), keyset paginated. */
export async function searchAuditLog(
  pool: Pool,
  query: AuditQuery,
): Promise<{ items: AuditItem[]; next_cursor: string | null }> {
  const conditions: string[] = [];
  const values: unknown[] = [];
  const bind = (value: unknown) => {
    values.push(value);
    return `$${values.length}`;
  };
  if (query.tenant) conditions.push(`scope = ${bind(query.tenant)}`);
  if (query.actor) {
    const colon = query.actor.indexOf(':');
    const kind = colon > 0 ? query.actor.slice(0, colon) : undefined;
    if (kind && actorKinds.has(kind)) {
      conditions.push(`actor_kind = ${bind(kind)} AND actor_id = ${bind(query.actor.slice(colon + 1))}`);
    } else {
      conditions.push(`actor_id = ${bind(query.actor)}`);
    }
  }
  if (query.action) conditions.push(`action = ${bind(query.action)}`);
  if (query.from) conditions.push(`recorded_at >= ${bind(query.from)}::timestamptz`);
  if (query.to) conditions.push(`recorded_at < ${bind(query.to)}::timestamptz`);
  if (query.cursor) {
    const [seq] = decodeCursor(query.cursor, AuditCursor);
    conditions.push(`seq < ${bind(seq)}`);
  }
  const where = conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '';
  const { rows } = await pool.query<AuditRow>(
    `SELECT seq, id, recorded_at, actor_kind, actor_id, action, scope, target_kind, target_id, client_address,
            request_id, outcome, detail
       FROM ${GATEWAY_SCHEMA}.audit_log ${where}
      ORDER BY seq DESC
      LIMIT ${bind(query.limit + 1)}`,
    values,
  );
  const page = rows.slice(0, query.limit);
  const last = page.at(-1);
  return {
    items: page.map(auditItem),
    next_cursor: rows.length > query.limit && last ? encodeCursor([Number(last.seq)]) : null,
  };
}

function auditItem(row: AuditRow): AuditItem {
  return {
    id: row.id,
    time: row.recorded_at.toISOString(),
    actor: { kind: row.actor_kind, id: row.actor_id },
    action: row.action,
    scope: row.scope,
    target: row.target_id,
    target_kind: row.target_kind,
    client_address: row.client_address,
    request_id: row.request_id,
    outcome: row.outcome,
    detail: row.detail,
  };
}
