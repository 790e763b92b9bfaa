/**
 * Metering's tenants projection (set-based) in a process of its own that kills itself (SIGKILL:
 * no rollback sent, no ack, no cleanup) when told to:
 * - KILL_IN_APPLY_AT=<seq>: inside the transaction of the batch holding that event, once the
 *   events before it in the batch were applied (sent to PostgreSQL unless WRITES_ONLY=1, which
 *   queues a batch's statements until its commit);
 * - KILL_BEFORE_ACK_AT=<seq>: after the batch holding that event committed, before its acks.
 * Env: NATS_URL, DATABASE_URL, DURABLE (the consumer); WRITES_ONLY=0 or 1. The consumer's ack wait is 1 s, so what a killed
 * process held comes back soon.
 */
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { type ProjectionDefinition, runProjection } from '@ttm/service-kit';
import pg from 'pg';
import { pino } from 'pino';
import { meteringTenantsProjection } from '../../src/tenants/projection.js';

const env = (name: string) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
};
const killInApplyAt = Number(process.env.KILL_IN_APPLY_AT ?? 0);
const killBeforeAckAt = Number(process.env.KILL_BEFORE_ACK_AT ?? 0);
const die = () => process.kill(process.pid, 'SIGKILL');

const applyMany = meteringTenantsProjection.applyMany?.bind(meteringTenantsProjection);
if (!applyMany) throw new Error('metering-tenants has no applyMany');
const projection: ProjectionDefinition = {
  ...meteringTenantsProjection,
  consumer: { ...meteringTenantsProjection.consumer, durable: env('DURABLE'), ackWaitSeconds: 1 },
  writesOnly: process.env.WRITES_ONLY === '1',
  async applyMany(client, events) {
    const at = events.findIndex((event) => event.seq === killInApplyAt);
    if (at < 0) return applyMany(client, events);
    await applyMany(client, events.slice(0, at));
    die();
  },
};

const nc = await connect({ servers: env('NATS_URL') });
const pool = new pg.Pool({ connectionString: env('DATABASE_URL'), max: 3 });
const controller = new AbortController();
process.once('SIGTERM', () => controller.abort());
await runProjection({
  js: jetstream(nc),
  pool,
  projection,
  logger: pino({ level: 'silent' }),
  signal: controller.signal,
  standbyPollMs: 100,
  beforeAck: (seqs) => {
    if (killBeforeAckAt > 0 && seqs.includes(killBeforeAckAt)) die();
  },
});
await pool.end();
await nc.close();
