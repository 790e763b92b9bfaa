import { AuditRecorded, Consumers, consumerDefinition, TenantId, WindowClosed } from '@ttm/contracts';
import { isMessage, type PoolClient, type ProjectionDefinition } from '@ttm/service-kit';
import { BACKUP_SCHEMA } from '../shared/index.js';

/**
 * `backup.tenant_activity.last_api_call_at`: the end of each tenant's latest closed hourly
 * api_calls window (a window exists only if calls were counted in it). Metering already
 * aggregated the calls; nothing here is written per request. GREATEST keeps a replay in any
 * order giving the same value.
 */
export const apiCallActivityProjection: ProjectionDefinition = {
  name: 'api-call-activity',
  schema: BACKUP_SCHEMA,
  consumer: consumerDefinition(Consumers.backupApiCalls),
  writesOnly: true,
  handles: new Set([WindowClosed.type]),
  async apply(client, event) {
    if (!isMessage(event, WindowClosed)) return;
    const e = event.data;
    if (e.meter !== 'api_calls' || e.granularity !== 'hour' || e.value <= 0) return;
    await recordLatest(client, 'last_api_call_at', e.tenantId, e.windowEnd);
  },
  reset: (client) => forgetAll(client, 'last_api_call_at'),
};

/**
 * `backup.tenant_activity.last_sign_in_at`: each tenant's latest successful sign-in, from the
 * gateway's `login` audit entries (one per sign-in, not per request).
 */
export const signInActivityProjection: ProjectionDefinition = {
  name: 'sign-in-activity',
  schema: BACKUP_SCHEMA,
  consumer: consumerDefinition(Consumers.backupSignIns),
  writesOnly: true,
  handles: new Set([AuditRecorded.type]),
  async apply(client, event) {
    if (!isMessage(event, AuditRecorded)) return;
    const e = event.data;
    if (e.action !== 'login' || e.outcome !== 'success') return;
    const tenantId = TenantId.safeParse(e.target?.kind === 'tenant' ? e.target.id : e.scope);
    if (!tenantId.success) return;
    await recordLatest(client, 'last_sign_in_at', tenantId.data, e.at);
  },
  reset: (client) => forgetAll(client, 'last_sign_in_at'),
};

type ActivityColumn = 'last_api_call_at' | 'last_sign_in_at';

/** Keep the later of the tenant's recorded time and `at` (GREATEST: any replay order gives the same). */
async function recordLatest(client: PoolClient, column: ActivityColumn, tenantId: string, at: string): Promise<void> {
  await client.query(
    `INSERT INTO ${BACKUP_SCHEMA}.tenant_activity (tenant_id, ${column}) VALUES ($1, $2)
     ON CONFLICT (tenant_id) DO UPDATE SET ${column} = GREATEST(tenant_activity.${column}, EXCLUDED.${column})`,
    [tenantId, at],
  );
}

/** Empty one column for a rebuild of its projection. */
async function forgetAll(client: PoolClient, column: ActivityColumn): Promise<void> {
  await client.query(`UPDATE ${BACKUP_SCHEMA}.tenant_activity SET ${column} = NULL`);
}
