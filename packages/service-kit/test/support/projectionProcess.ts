/**
 * A process that runs one ledger projection until it is killed. It kills itself
 * (SIGKILL: no rollback sent, no ack, no cleanup) when told to:
 * - KILL_IN_APPLY_AT=<seq>: inside the batch transaction, just before applying that event;
 * - KILL_BEFORE_ACK_AT=<seq>: after the batch holding that event committed, before its acks.
 * Env: NATS_URL, DATABASE_URL, PROJECTION, SCHEMA; WRITES_ONLY=1 for a write-only projection,
 * SET_BASED=1 for a set-based one (a batch's events in rounds of one statement per table).
 */
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import pg from 'pg';
import { pino } from 'pino';
import { runProjection } from '../../src/consumers/index.js';
import { ledgerProjection } from './ledgerProjection.js';

const env = (name: string) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
};
const killInApplyAt = Number(process.env.KILL_IN_APPLY_AT ?? 0);
const killBeforeAckAt = Number(process.env.KILL_BEFORE_ACK_AT ?? 0);
const die = () => process.kill(process.pid, 'SIGKILL');

const nc = await connect({ servers: env('NATS_URL') });
const pool = new pg.Pool({ connectionString: env('DATABASE_URL'), max: 3 });
const controller = new AbortController();
process.once('SIGTERM', () => controller.abort());
await runProjection({
  js: jetstream(nc),
  pool,
  projection: ledgerProjection(env('PROJECTION'), env('SCHEMA'), {
    beforeApply: (seq) => {
      if (seq === killInApplyAt) die();
    },
    writesOnly: process.env.WRITES_ONLY === '1',
    setBased: process.env.SET_BASED === '1',
  }),
  logger: pino({ level: 'silent' }),
  signal: controller.signal,
  standbyPollMs: 100,
  beforeAck: (seqs) => {
    if (killBeforeAckAt > 0 && seqs.includes(killBeforeAckAt)) die();
  },
});
await pool.end();
await nc.close();
