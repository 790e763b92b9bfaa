import { jetstream } from '@nats-io/jetstream';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { CommandSubjects, Subjects } from '@ttm/contracts';
import pg from 'pg';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootstrapTopology, topologySettingsFrom } from '../src/bootstrap.js';
import { commonEnv, loadConfig } from '../src/config.js';
import { HealthChecks } from '../src/health.js';
import { trackOpsMetrics } from '../src/opsMetrics.js';
import { TEST_POSTGRES_URL } from '../src/testing/database.js';
import { PrivateNatsServer } from '../src/testing/natsServer.js';

const logger = pino({ level: 'silent' });

let server: PrivateNatsServer;
let nc: NatsConnection;
let pool: pg.Pool;
const registry = new Registry();

beforeAll(async () => {
  server = await PrivateNatsServer.start();
  nc = await connect({ servers: server.url });
  await bootstrapTopology(nc, topologySettingsFrom(loadConfig(commonEnv, {})), logger);
  pool = new pg.Pool({ connectionString: TEST_POSTGRES_URL, max: 1, application_name: 'ttm-ops-metrics-test' });
  const health = new HealthChecks().add('nats', () => !nc.isClosed()).add('redis', () => false);
  trackOpsMetrics(registry, { service: 'provisioner', health, js: jetstream(nc), pool });
});

afterAll(async () => {
  await pool?.end();
  await nc?.close();
  await server?.stop();
});

async function value(name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const metric = registry.getSingleMetric(name);
  if (!metric) throw new Error(`${name} is not registered`);
  const found = (await metric.get()).values.find((v) =>
    Object.entries(labels).every(([k, want]) => v.labels[k] === want),
  );
  return found?.value;
}

describe('trackOpsMetrics', () => {
  it('reports readiness and each dependency check', async () => {
    expect(await value('ttm_dependency_up', { dependency: 'nats' })).toBe(1);
    expect(await value('ttm_dependency_up', { dependency: 'redis' })).toBe(0);
    expect(await value('ttm_ready')).toBe(0);
  });

  it('reports the backlog, the oldest unacked age and the dead letters of the consumers the service owns', async () => {
    const js = jetstream(nc);
    const h = headers();
    h.set('ce-type', 'test');
    const publishedBefore = Date.now();
    await js.publish(CommandSubjects.tenantRegister, '{}', { headers: h });
    await js.publish(Subjects.deadLetter('COMMANDS', 'provisioner-commands'), '{}');
    const labels = { stream: 'COMMANDS', consumer: 'provisioner-commands', kind: 'commands' };
    expect(await value('ttm_consumer_pending_messages', labels)).toBe(1);
    expect(await value('ttm_consumer_ack_pending_messages', labels)).toBe(0);
    // The age grows with the clock: read until it has passed 20 ms (a condition, not a margin).
    let age = 0;
    while (age < 0.02) {
      age = (await value('ttm_consumer_oldest_unacked_age_seconds', labels)) ?? 0;
      if (age < 0.02) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(age).toBeLessThan((Date.now() - publishedBefore) / 1_000 + 1);
    expect(await value('ttm_dead_letter_messages', labels)).toBe(1);
    // Only the consumers this service pulls from.
    expect(await value('ttm_consumer_pending_messages', { consumer: 'metering-commands' })).toBeUndefined();
  });

  it('reports the PostgreSQL server connections by application and its max_connections', async () => {
    await pool.query('SELECT 1');
    expect(await value('ttm_postgres_connections', { application: 'ttm-ops-metrics-test' })).toBeGreaterThanOrEqual(1);
    expect(await value('ttm_postgres_max_connections')).toBeGreaterThan(0);
  });
});
