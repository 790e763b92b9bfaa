/**
 * Operators' tenant list with 10,000 tenants: filtered pages over HTTP through the
 * gateway (admin key check, keyset query on the projection, serialization). The tenants
 * are seeded by publishing their lifecycle events to EVENTS, so the gateway's own
 * projection builds the table (that rate is reported too).
 */
import { randomUUID } from 'node:crypto';
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { encodeMessage, Subjects, TenantProvisioned, TenantRegistered, TenantSuspended } from '@ttm/contracts';
import { natsHeadersFrom } from '@ttm/service-kit';
import pg from 'pg';
import { BENCH_ADMIN_KEY, startProcessStack } from './lib/processStack.js';
import { BenchReport, quantile } from './lib/report.js';

const TENANTS = Number(process.env.BENCH_TENANTS ?? 10_000);
const REQUESTS = 400;
const plans = ['free', 'pro', 'enterprise'];
const regions = ['us-east-1', 'eu-west-1'];

export async function run(): Promise<void> {
  const report = new BenchReport('admin-list');
  report.describe({ tenants: TENANTS, requests_per_query: REQUESTS, page_size: 50 });
  const stack = await startProcessStack(['gateway']);
  const nc = await connect({ servers: stack.nats.url });
  const js = jetstream(nc);
  try {
    const seedStarted = performance.now();
    const pending: Promise<unknown>[] = [];
    for (let i = 0; i < TENANTS; i++) {
      const tenantId = randomUUID();
      const provisioningId = randomUUID();
      const subject = Subjects.tenantEvents(tenantId);
      const at = new Date(Date.now() - (TENANTS - i) * 1000).toISOString();
      const publish = (def: Parameters<typeof encodeMessage>[0], data: Record<string, unknown>) => {
        const m = encodeMessage(def, data as never, { source: '/bench', subject: tenantId });
        return js.publish(subject, m.body, { headers: natsHeadersFrom(m.headers), msgID: m.meta.id });
      };
      pending.push(
        publish(TenantRegistered, {
          tenantId,
          provisioningId,
          organizationName: `Organization ${i} ${i % 7 === 0 ? 'Acme' : 'Globex'}`,
          adminEmail: `admin${i}@example${i % 50}.test`,
          plan: plans[i % plans.length],
          region: regions[i % regions.length],
          registeredAt: at,
        }),
        publish(TenantProvisioned, {
          tenantId,
          provisioningId,
          slug: `organization-${i}`,
          placement: {
            region: regions[i % regions.length],
            cluster: 'c1',
            kind: 'schema',
            database: 'db',
            schema: `ws_${i}`,
          },
          durationMs: 120,
          provisionedAt: at,
        }),
      );
      if (i % 10 === 0) {
        pending.push(
          publish(TenantSuspended, {
            tenantId,
            reason: 'bench',
            actor: { kind: 'admin', id: 'bench' },
            suspendedAt: at,
          }),
        );
      }
      if (pending.length >= 2_000) await Promise.all(pending.splice(0));
    }
    await Promise.all(pending);
    const client = new pg.Client({ connectionString: stack.db.url });
    await client.connect();
    const events = TENANTS * 2 + Math.ceil(TENANTS / 10);
    while ((await client.query('SELECT count(*)::int AS n FROM gateway.tenants')).rows[0].n < TENANTS) {
      await new Promise((r) => setTimeout(r, 200));
    }
    await waitForCheckpoint(client, events);
    await client.end();
    const seedSeconds = (performance.now() - seedStarted) / 1000;
    report.figure('projection build rate (publish to row)', events / seedSeconds, 'events/s');

    const queries: Record<string, string> = {
      'unfiltered page': '',
      'status=active&plan=pro': 'status=active&plan=pro',
      'region=eu-west-1&status=suspended': 'region=eu-west-1&status=suspended',
      'q=acme (free text)': 'q=acme',
      'page 20 via cursor': 'cursor-walk',
    };
    const all: number[] = [];
    for (const [label, query] of Object.entries(queries)) {
      const latencies: number[] = [];
      let cursor: string | null = null;
      for (let r = 0; r < REQUESTS; r++) {
        let qs = query;
        if (query === 'cursor-walk') {
          qs = cursor && r % 20 !== 0 ? `cursor=${encodeURIComponent(cursor)}` : '';
        }
        const t0 = performance.now();
        const response = await fetch(`${stack.gatewayUrl}/api/admin/tenants?limit=50&${qs}`, {
          headers: { 'x-admin-key': BENCH_ADMIN_KEY },
        });
        const body = (await response.json()) as { items: unknown[]; next_cursor: string | null };
        latencies.push(performance.now() - t0);
        if (response.status !== 200) throw new Error(`list answered ${response.status}`);
        cursor = body.next_cursor;
      }
      all.push(...latencies);
      report.figure(`${label} p95`, quantile(latencies, 0.95), 'ms');
    }
    report.figure('all filtered pages p50', quantile(all, 0.5), 'ms');
    report.figure('all filtered pages p95', quantile(all, 0.95), 'ms', '< 50 ms');
  } finally {
    await nc.close();
    await stack.stop();
  }
  await report.save();
}

async function waitForCheckpoint(client: pg.Client, events: number): Promise<void> {
  for (;;) {
    const { rows } = await client.query(
      "SELECT last_seq FROM gateway.projection_checkpoints WHERE projection = 'gateway-tenants'",
    );
    if (Number(rows[0]?.last_seq ?? 0) >= events) return;
    await new Promise((r) => setTimeout(r, 200));
  }
}
