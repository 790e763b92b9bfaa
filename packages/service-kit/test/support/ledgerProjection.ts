import { type ConsumerDefinition, Streams, TenantSuspended } from '@ttm/contracts';
import { onMany, type ProjectionDefinition, setAppliers } from '../../src/consumers/index.js';

/**
 * The consumer of a test projection `name` on `evt.<name>.>` of EVENTS, quick to redeliver
 * (ack wait 1 s) and giving up after `maxDeliver` deliveries.
 */
export function testProjectionConsumer(name: string, description: string, maxDeliver: number): ConsumerDefinition {
  return {
    stream: Streams.EVENTS,
    durable: name,
    description,
    filterSubject: `evt.${name}.>`,
    maxDeliver,
    ackWaitSeconds: 1,
    maxAckPending: 500,
    owner: 'gateway',
    kind: 'projection',
  };
}

/**
 * A projection that shows every mistake: one row per event with no unique key (an event
 * applied twice is two rows), and a running balance per tenant (an event skipped or doubled
 * changes it). Shared by the crash test and the process it kills.
 */
export function ledgerProjection(
  name: string,
  schema: string,
  hooks: { beforeApply?: (seq: number) => void; writesOnly?: boolean; setBased?: boolean } = {},
): ProjectionDefinition {
  const projection: ProjectionDefinition = {
    name,
    schema,
    consumer: testProjectionConsumer(name, `test ledger projection ${name}`, 5),
    ...(hooks.writesOnly ? { writesOnly: true } : {}),
    async apply(client, event) {
      hooks.beforeApply?.(event.seq);
      const data = event.data as { tenantId: string; reason: string };
      await client.query(`INSERT INTO ${schema}.ledger_rows (seq, tenant_id, reason) VALUES ($1, $2, $3)`, [
        event.seq,
        data.tenantId,
        data.reason,
      ]);
      await client.query(
        `INSERT INTO ${schema}.ledger_balances (tenant_id, events, seq_sum) VALUES ($1, 1, $2)
         ON CONFLICT (tenant_id) DO UPDATE SET events = ledger_balances.events + 1, seq_sum = ledger_balances.seq_sum + $2`,
        [data.tenantId, event.seq],
      );
    },
    async reset(client) {
      await client.query(`TRUNCATE ${schema}.ledger_rows, ${schema}.ledger_balances`);
    },
  };
  if (!hooks.setBased) return projection;
  // Set-based: each round's events (one per tenant) in one statement per table; `beforeApply`
  // runs before each round's statements, so a kill can land with earlier rounds already sent.
  const appliers = setAppliers([
    onMany(TenantSuspended, async (events, client) => {
      for (const event of events) hooks.beforeApply?.(event.seq);
      const rows = JSON.stringify(
        events.map((e) => ({ seq: e.seq, tenant_id: e.data.tenantId, reason: e.data.reason })),
      );
      await client.query(
        `INSERT INTO ${schema}.ledger_rows (seq, tenant_id, reason)
         SELECT seq, tenant_id, reason FROM jsonb_to_recordset($1::jsonb) AS r(seq bigint, tenant_id uuid, reason text)`,
        [rows],
      );
      await client.query(
        `INSERT INTO ${schema}.ledger_balances (tenant_id, events, seq_sum)
         SELECT tenant_id, 1, seq FROM jsonb_to_recordset($1::jsonb) AS r(seq bigint, tenant_id uuid)
         ON CONFLICT (tenant_id) DO UPDATE SET events = ledger_balances.events + 1,
            seq_sum = ledger_balances.seq_sum + excluded.seq_sum`,
        [rows],
      );
    }),
  ]);
  return { ...projection, apply: appliers.apply, applyMany: appliers.applyMany };
}

export function ledgerTables(schema: string): string {
  return `CREATE SCHEMA IF NOT EXISTS ${schema};
    CREATE TABLE ${schema}.ledger_rows (seq bigint NOT NULL, tenant_id uuid NOT NULL, reason text NOT NULL);
    CREATE TABLE ${schema}.ledger_balances (tenant_id uuid PRIMARY KEY, events int NOT NULL, seq_sum bigint NOT NULL);`;
}
