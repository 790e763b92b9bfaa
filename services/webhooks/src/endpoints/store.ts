import { randomUUID } from 'node:crypto';
import type { DeliveryView, EndpointView, WebhookEventType, WebhookScope } from '@ttm/contracts';
import type { Pool } from '@ttm/service-kit';
import { newSecret } from '../delivery/signing.js';
import type { EndpointSecrets } from './secrets.js';

/** The webhooks service's schema in the control-plane database. */
export const WEBHOOKS_SCHEMA = 'webhooks';

interface EndpointRow {
  id: string;
  url: string;
  description: string | null;
  event_types: string[];
  tenant_id: string | null;
  owner: 'operator' | 'tenant';
  status: 'enabled' | 'disabled';
  disabled_reason: string | null;
  consecutive_failures: number;
  failing_since: Date | null;
  created_at: Date;
  secret_rotated_at: Date | null;
  previous_secret_expires_at: Date | null;
}

const endpointColumns = `id, url, description, event_types, tenant_id, owner, status, disabled_reason,
  consecutive_failures, failing_since, created_at, secret_rotated_at, previous_secret_expires_at`;

const iso = (d: Date | null) => (d ? d.toISOString() : null);

function endpointView(r: EndpointRow): EndpointView {
  return {
    id: r.id,
    url: r.url,
    description: r.description,
    eventTypes: r.event_types as WebhookEventType[],
    tenantId: r.tenant_id,
    owner: r.owner,
    status: r.status,
    disabledReason: r.disabled_reason,
    consecutiveFailures: r.consecutive_failures,
    failingSince: iso(r.failing_since),
    createdAt: r.created_at.toISOString(),
    secretRotatedAt: iso(r.secret_rotated_at),
    previousSecretExpiresAt:
      r.previous_secret_expires_at && r.previous_secret_expires_at > new Date()
        ? r.previous_secret_expires_at.toISOString()
        : null,
  };
}

/** SQL condition (and its parameters from `$first`) selecting the endpoints a scope may see. */
function scopeFilter(scope: WebhookScope, first: number): { sql: string; params: unknown[] } {
  if (scope.kind === 'operator') return { sql: 'removed_at IS NULL', params: [] };
  return { sql: `removed_at IS NULL AND owner = 'tenant' AND tenant_id = $${first}`, params: [scope.tenantId] };
}

export interface EndpointInput {
  url: string;
  eventTypes: WebhookEventType[];
  description: string | null;
  tenantId: string | null;
  owner: 'operator' | 'tenant';
}

/** Endpoints, their secrets and their delivery logs, in the service's own schema. */
export class EndpointStore {
  constructor(
    private readonly pool: Pool,
    private readonly secrets: EndpointSecrets,
  ) {}

  /** The secret is shown once, here; the table keeps it sealed. */
  async create(input: EndpointInput): Promise<{ endpoint: EndpointView; secret: string }> {
    const id = randomUUID();
    const secret = newSecret();
    const sealed = await this.secrets.seal(id, secret);
    const { rows } = await this.pool.query<EndpointRow>(
      `INSERT INTO webhooks.endpoints (id, url, description, event_types, tenant_id, owner, secret_sealed)
       VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ${endpointColumns}`,
      [id, input.url, input.description, input.eventTypes, input.tenantId, input.owner, sealed],
    );
    return { endpoint: endpointView(rows[0]!), secret };
  }

  /**
   * Seal the secrets still in the plain columns (rows written before migration 002). Each row
   * changes only if its plain values are still those read, so two instances starting together
   * seal it once. Returns how many rows it sealed.
   */
  async sealPlainSecrets(): Promise<number> {
    const { rows } = await this.pool.query<{ id: string; secret: string | null; previous_secret: string | null }>(
      `SELECT id, secret, previous_secret FROM webhooks.endpoints
        WHERE secret IS NOT NULL OR previous_secret IS NOT NULL`,
    );
    let sealed = 0;
    for (const row of rows) {
      const current = row.secret === null ? null : await this.secrets.seal(row.id, row.secret);
      const previous = row.previous_secret === null ? null : await this.secrets.seal(row.id, row.previous_secret);
      const { rowCount } = await this.pool.query(
        `UPDATE webhooks.endpoints
            SET secret_sealed = COALESCE($2::jsonb, secret_sealed), secret = NULL,
                previous_secret_sealed = COALESCE($3::jsonb, previous_secret_sealed), previous_secret = NULL
          WHERE id = $1 AND secret IS NOT DISTINCT FROM $4 AND previous_secret IS NOT DISTINCT FROM $5`,
        [row.id, current, previous, row.secret, row.previous_secret],
      );
      sealed += rowCount ?? 0;
    }
    return sealed;
  }

  async list(scope: WebhookScope): Promise<EndpointView[]> {
    const filter = scopeFilter(scope, 1);
    const { rows } = await this.pool.query<EndpointRow>(
      `SELECT ${endpointColumns} FROM webhooks.endpoints WHERE ${filter.sql} ORDER BY created_at, id LIMIT 1000`,
      filter.params,
    );
    return rows.map(endpointView);
  }

  async get(scope: WebhookScope, id: string): Promise<EndpointView | undefined> {
    const filter = scopeFilter(scope, 2);
    const { rows } = await this.pool.query<EndpointRow>(
      `SELECT ${endpointColumns} FROM webhooks.endpoints WHERE id = $1 AND ${filter.sql}`,
      [id, ...filter.params],
    );
    return rows[0] ? endpointView(rows[0]) : undefined;
  }

  /** Soft removal: no more deliveries, the log stays readable to nobody but the database. */
  async remove(scope: WebhookScope, id: string): Promise<boolean> {
    const filter = scopeFilter(scope, 2);
    const { rowCount } = await this.pool.query(
      `UPDATE webhooks.endpoints SET removed_at = now() WHERE id = $1 AND ${filter.sql}`,
      [id, ...filter.params],
    );
    return (rowCount ?? 0) > 0;
  }

  /** Re-enable a disabled endpoint: its streak starts over, its pending deliveries resume. */
  async enable(scope: WebhookScope, id: string): Promise<EndpointView | undefined> {
    const filter = scopeFilter(scope, 2);
    const { rows } = await this.pool.query<EndpointRow>(
      `UPDATE webhooks.endpoints
          SET status = 'enabled', disabled_reason = NULL, disabled_at = NULL,
              consecutive_failures = 0, failing_since = NULL
        WHERE id = $1 AND ${filter.sql} RETURNING ${endpointColumns}`,
      [id, ...filter.params],
    );
    return rows[0] ? endpointView(rows[0]) : undefined;
  }

  /** A new secret; the old one keeps signing (second signature) for `overlapMs`. */
  async rotateSecret(
    scope: WebhookScope,
    id: string,
    overlapMs: number,
  ): Promise<{ endpoint: EndpointView; secret: string } | undefined> {
    const secret = newSecret();
    const sealed = await this.secrets.seal(id, secret);
    const filter = scopeFilter(scope, 4);
    // The sealed value moves to the previous slot as it is (same row binding); a plain one left
    // from before migration 002 moves plain, and the next start seals it.
    const { rows } = await this.pool.query<EndpointRow>(
      `UPDATE webhooks.endpoints
          SET previous_secret_sealed = CASE WHEN $3::bigint > 0 THEN secret_sealed END,
              previous_secret = CASE WHEN $3::bigint > 0 THEN secret END,
              previous_secret_expires_at = CASE WHEN $3::bigint > 0 THEN now() + $3::bigint * interval '1 millisecond' END,
              secret_sealed = $2, secret = NULL, secret_rotated_at = now()
        WHERE id = $1 AND ${filter.sql} RETURNING ${endpointColumns}`,
      [id, sealed, overlapMs, ...filter.params],
    );
    return rows[0] ? { endpoint: endpointView(rows[0]), secret } : undefined;
  }

  async deliveries(
    scope: WebhookScope,
    endpointId: string,
    options: { limit: number; before?: string | undefined },
  ): Promise<DeliveryView[] | undefined> {
    if (!(await this.get(scope, endpointId))) return undefined;
    const { rows } = await this.pool.query<DeliveryRow>(
      `SELECT ${deliveryColumns} FROM webhooks.deliveries
        WHERE endpoint_id = $1 AND ($2::timestamptz IS NULL OR created_at < $2)
        ORDER BY created_at DESC, id LIMIT $3`,
      [endpointId, options.before ?? null, options.limit],
    );
    return rows.map(deliveryView);
  }

  /** Send a delivery again now, with the same webhook-id: one more attempt if its retries were spent. */
  async redeliver(scope: WebhookScope, endpointId: string, deliveryId: string): Promise<DeliveryView | undefined> {
    if (!(await this.get(scope, endpointId))) return undefined;
    const { rows } = await this.pool.query<DeliveryRow>(
      `UPDATE webhooks.deliveries
          SET status = 'pending', next_attempt_at = now(), delivered_at = NULL
        WHERE id = $1 AND endpoint_id = $2 AND (status <> 'pending' OR lease_until IS NULL OR lease_until < now())
        RETURNING ${deliveryColumns}`,
      [deliveryId, endpointId],
    );
    if (rows[0]) return deliveryView(rows[0]);
    const { rows: existing } = await this.pool.query<DeliveryRow>(
      `SELECT ${deliveryColumns} FROM webhooks.deliveries WHERE id = $1 AND endpoint_id = $2`,
      [deliveryId, endpointId],
    );
    return existing[0] ? deliveryView(existing[0]) : undefined;
  }
}

interface DeliveryRow {
  id: string;
  endpoint_id: string;
  event_id: string;
  event_type: string;
  tenant_id: string | null;
  status: 'pending' | 'succeeded' | 'failed';
  attempts: number;
  next_attempt_at: Date | null;
  last_attempt_at: Date | null;
  last_status_code: number | null;
  last_error: string | null;
  created_at: Date;
  delivered_at: Date | null;
}

const deliveryColumns = `id, endpoint_id, event_id, event_type, tenant_id, status, attempts, next_attempt_at,
  last_attempt_at, last_status_code, last_error, created_at, delivered_at`;

function deliveryView(r: DeliveryRow): DeliveryView {
  return {
    id: r.id,
    endpointId: r.endpoint_id,
    eventId: r.event_id,
    eventType: r.event_type as WebhookEventType,
    tenantId: r.tenant_id,
    status: r.status,
    attempts: r.attempts,
    nextAttemptAt: iso(r.next_attempt_at),
    lastAttemptAt: iso(r.last_attempt_at),
    lastStatusCode: r.last_status_code,
    lastError: r.last_error,
    createdAt: r.created_at.toISOString(),
    deliveredAt: iso(r.delivered_at),
  };
}
