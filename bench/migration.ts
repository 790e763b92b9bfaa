/**
 * Tenant migration: a tenant with 100,000 records (companies, people, notes) in us-east-1 is
 * moved to eu-west-1 through `POST /api/admin/tenants/{id}/migrate`, with the gateway,
 * provisioner and backup service as processes. Reports the write-freeze duration (target < 5 s),
 * the total duration (request to the operation succeeded) and the rows copied per second.
 */
import { randomUUID } from 'node:crypto';
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { encodeMessage, RegisterOrganization, Subjects, TenantProvisioned } from '@ttm/contracts';
import { publishMessage, readAggregate } from '@ttm/service-kit';
import pg from 'pg';
import { until } from './lib/polling.js';
import { BENCH_ADMIN_KEY, startProcessStack } from './lib/processStack.js';
import { BenchReport } from './lib/report.js';

const RECORDS = Number(process.env.BENCH_MIGRATION_RECORDS ?? 100_000);
const HASH = '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g';

interface MigrationResult {
  status: string;
  error?: string;
  result?: { rows: number; freeze_ms: number; duration_ms: number; source_removed_at: string | null };
}

export async function run(): Promise<void> {
  const report = new BenchReport('migration');
  const stack = await startProcessStack(['gateway', 'provisioner', 'backup'], {
    BACKUP_SCHEDULE_EVERY: '0',
    MIGRATION_SOURCE_GRACE: '0',
  });
  const nc = await connect({ servers: stack.nats.url });
  try {
    const tenantId = randomUUID();
    await publishMessage(
      jetstream(nc),
      RegisterOrganization.subject,
      encodeMessage(
        RegisterOrganization,
        {
          provisioningId: randomUUID(),
          tenantId,
          organizationName: 'Bench Migration Corp',
          adminEmail: 'admin@migration.bench',
          adminPasswordHash: HASH,
          plan: 'pro',
          region: 'us-east-1',
          requestedAt: new Date().toISOString(),
        },
        { source: '/bench' },
      ),
    );
    const placement = await until(async () => {
      const { events } = await readAggregate(jetstream(nc), Subjects.tenantEvents(tenantId));
      const done = events.find((e) => e.type === TenantProvisioned.type);
      return done && TenantProvisioned.schema.parse(done.data).placement;
    }, 30_000);

    // 40 % companies, 40 % people (one per company), 20 % notes.
    const pairs = Math.round(RECORDS * 0.4);
    const notes = RECORDS - 2 * pairs;
    const source = new URL(JSON.parse(stack.env.REGIONS!)[0].clusters[0].url as string);
    source.pathname = `/${placement.database}`;
    const seeded = performance.now();
    const db = new pg.Client({ connectionString: source.toString() });
    await db.connect();
    const s = pg.escapeIdentifier(placement.schema);
    await db.query(
      `WITH c AS (
         INSERT INTO ${s}.company (name, employees, "addressAddressCity", position)
         SELECT 'Company ' || n, n, 'City ' || (n % 17), n / 3.0 FROM generate_series(1, $1) n RETURNING id, name
       )
       INSERT INTO ${s}.person ("nameFirstName", "nameLastName", "emailsPrimaryEmail", "companyId")
       SELECT 'First', c.name, 'p' || c.id || '@example.test', c.id FROM c`,
      [pairs],
    );
    await db.query(
      `INSERT INTO ${s}.note (title, "bodyV2Markdown", position)
       SELECT 'Note ' || n, repeat('Lorem ipsum dolor sit amet ' || n || E'\\n', 4), n FROM generate_series(1, $1) n`,
      [notes],
    );
    await db.query(`VACUUM ANALYZE ${s}.company, ${s}.person, ${s}.note`);
    await db.end();
    report.describe({
      records: RECORDS,
      tables: { company: pairs, person: pairs, note: notes },
      seeded_in_ms: Math.round(performance.now() - seeded),
      from: 'us-east-1',
      to: 'eu-west-1 (another database of the same PostgreSQL server)',
      services: 'gateway, provisioner and backup as processes; nats-server and PostgreSQL share the machine',
    });
    // Let the gateway's directory catch up with the provisioning.
    await until(async () => {
      const r = await fetch(`${stack.gatewayUrl}/api/admin/tenants/${tenantId}`, {
        headers: { 'x-admin-key': BENCH_ADMIN_KEY },
      });
      return r.status === 200 ? true : undefined;
    }, 15_000);

    const started = performance.now();
    const response = await fetch(`${stack.gatewayUrl}/api/admin/tenants/${tenantId}/migrate`, {
      method: 'POST',
      headers: { 'x-admin-key': BENCH_ADMIN_KEY, 'content-type': 'application/json' },
      body: JSON.stringify({ target_region: 'eu-west-1' }),
    });
    if (response.status !== 202) throw new Error(`migrate answered ${response.status}: ${await response.text()}`);
    const { operation_id } = (await response.json()) as { operation_id: string };
    let succeededAt = 0;
    const operation = await until(
      async () => {
        // A migration's operation is shown to operators (and its tenant) only.
        const r = await fetch(`${stack.gatewayUrl}/api/operations/${operation_id}`, {
          headers: { 'x-admin-key': BENCH_ADMIN_KEY },
        });
        if (r.status !== 200) return undefined;
        const body = (await r.json()) as MigrationResult;
        if (body.status === 'failed') throw new Error(`migration failed: ${body.error}`);
        if (body.status === 'succeeded' && !succeededAt) succeededAt = performance.now();
        return body.status === 'succeeded' && body.result?.source_removed_at ? body : undefined;
      },
      300_000,
      20,
    );
    const result = operation.result!;
    const totalMs = succeededAt - started;
    report.figure('write-freeze duration', result.freeze_ms / 1_000, 's', '< 5 s');
    report.figure('total duration, request to tenant writable at the target', totalMs / 1_000, 's');
    report.figure('saga duration (started to completed event)', result.duration_ms / 1_000, 's');
    report.figure('rows copied per second (over the freeze)', result.rows / (result.freeze_ms / 1_000), 'rows/s');
    report.figure('rows copied', result.rows, 'rows');
    // Where the freeze goes: the time from one step's event to the next.
    const { events } = await readAggregate(jetstream(nc), Subjects.migrationEvents(operation_id));
    let previous: number | undefined;
    for (const event of events) {
      const data = event.data as { step?: string; at?: string; startedAt?: string };
      const at = Date.parse(data.at ?? data.startedAt ?? event.meta.time);
      if (event.type === 'ttm.migration.step-completed.v1' && previous !== undefined) {
        report.figure(`step ${data.step}`, (at - previous) / 1_000, 's');
      }
      previous = at;
    }
    await report.save();
  } finally {
    await nc.close();
    await stack.stop();
  }
}
