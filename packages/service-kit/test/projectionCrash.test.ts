import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Streams, Subjects } from '@ttm/contracts';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCheckpoint, replayProjection } from '../src/consumers/index.js';
import { publishMessage } from '../src/messaging.js';
import { createTestDatabase, type TestDatabase } from '../src/testing/database.js';
import { silentLogger, startJetStream, suspension, type TestJetStream, waitUntil } from './support/jetstream.js';
import { ledgerProjection, ledgerTables } from './support/ledgerProjection.js';

const SCHEMA = 'projection_crash';
const child = fileURLToPath(new URL('./support/projectionProcess.ts', import.meta.url));

let nats: TestJetStream;
let db: TestDatabase;
let pool: pg.Pool;

beforeAll(async () => {
  nats = await startJetStream([Streams.EVENTS, Streams.DEADLETTER]);
  db = await createTestDatabase('ttm_test_projection_crash');
  pool = new pg.Pool({ connectionString: db.url, max: 4 });
}, 60_000);

afterAll(async () => {
  await pool?.end();
  await db?.drop();
  await nats?.close();
});

/** The projection in its own process (node itself, tsx as a loader: a kill reaches the process that applies). */
function runInProcess(mode: Mode, env: Record<string, string> = {}): { proc: ChildProcess; exited: Promise<string> } {
  const proc = spawn(process.execPath, ['--import', 'tsx', child], {
    env: {
      ...process.env,
      NATS_URL: nats.server.url,
      DATABASE_URL: db.url,
      PROJECTION: mode.name,
      SCHEMA: mode.schema,
      WRITES_ONLY: mode.writesOnly ? '1' : '0',
      SET_BASED: mode.setBased ? '1' : '0',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  proc.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<string>((resolve) =>
    proc.once('exit', (code, signal) => resolve(signal === 'SIGKILL' ? 'killed' : `exit ${code}: ${stderr}`)),
  );
  return { proc, exited };
}

interface Mode {
  name: string;
  schema: string;
  writesOnly: boolean;
  setBased: boolean;
}

async function publishLedger(name: string, count: number, tenants: string[]): Promise<number[]> {
  const seqs: number[] = [];
  for (let start = 0; start < count; start += 200) {
    const chunk = Array.from({ length: Math.min(200, count - start) }, (_, i) => {
      const tenantId = tenants[(start + i) % tenants.length]!;
      return publishMessage(nats.js, Subjects.event(name, tenantId), suspension(tenantId, `r${start + i}`));
    });
    seqs.push(...(await Promise.all(chunk)).map((ack) => ack.seq));
  }
  return seqs.sort((a, b) => a - b);
}

async function snapshotOf(schema: string) {
  const rows = await pool.query<{ seq: string; tenant_id: string; reason: string }>(
    `SELECT seq, tenant_id, reason FROM ${schema}.ledger_rows ORDER BY seq`,
  );
  const balances = await pool.query<{ tenant_id: string; events: number; seq_sum: string }>(
    `SELECT tenant_id, events, seq_sum FROM ${schema}.ledger_balances ORDER BY tenant_id`,
  );
  return { rows: rows.rows, balances: balances.rows };
}

const modes: Mode[] = [
  { name: 'ledger', schema: `${SCHEMA}_apply`, writesOnly: false, setBased: false },
  { name: 'ledgerw', schema: `${SCHEMA}_writes`, writesOnly: true, setBased: false },
  { name: 'ledgers', schema: `${SCHEMA}_set`, writesOnly: false, setBased: true },
];

describe.each(modes)(
  'a batched projection killed with SIGKILL (writes only: $writesOnly, set-based: $setBased)',
  (mode) => {
    it('applies every event exactly once across kills mid-batch, between commit and ack, and at random; replay gives the same rows', async () => {
      await pool.query(ledgerTables(mode.schema));
      const projection = ledgerProjection(mode.name, mode.schema, {
        writesOnly: mode.writesOnly,
        setBased: mode.setBased,
      });
      const tenants = Array.from({ length: 10 }, () => randomUUID());
      const seqs = await publishLedger(mode.name, 3_000, tenants);
      const checkpoint = () => readCheckpoint(pool, projection);
      const snapshot = () => snapshotOf(mode.schema);

      // 1. Inside a batch transaction: nothing of that batch may remain.
      const inApply = runInProcess(mode, { KILL_IN_APPLY_AT: String(seqs[700]) });
      expect(await inApply.exited).toBe('killed');
      expect(await checkpoint()).toBeLessThan(seqs[700]!);
      const { rows: afterFirst } = await snapshot();
      expect(afterFirst.every((r) => Number(r.seq) < seqs[700]!)).toBe(true);

      // 2. After a commit, before any ack of that batch: it comes again and must be skipped.
      const beforeAck = runInProcess(mode, { KILL_BEFORE_ACK_AT: String(seqs[1_500]) });
      expect(await beforeAck.exited).toBe('killed');
      expect(await checkpoint()).toBeGreaterThanOrEqual(seqs[1_500]!);

      // 3. At whatever moment the kill lands, while events keep arriving.
      const running = runInProcess(mode);
      const more = publishLedger(mode.name, 1_000, tenants);
      await waitUntil('past two thousand', async () => (await checkpoint()) > seqs[2_000]!, 300_000);
      running.proc.kill('SIGKILL');
      expect(await running.exited).toBe('killed');
      seqs.push(...(await more));

      // 4. A last run drains it.
      const last = runInProcess(mode);
      await waitUntil('all applied', async () => (await checkpoint()) === seqs.at(-1), 300_000);
      last.proc.kill('SIGTERM');
      expect(await last.exited).toBe('exit 0: ');

      const live = await snapshot();
      expect(live.rows.map((r) => Number(r.seq))).toEqual(seqs);
      const expected = new Map<string, { events: number; sum: number }>();
      for (const r of live.rows) {
        const b = expected.get(r.tenant_id) ?? { events: 0, sum: 0 };
        expected.set(r.tenant_id, { events: b.events + 1, sum: b.sum + Number(r.seq) });
      }
      for (const b of live.balances) {
        expect({ events: b.events, sum: Number(b.seq_sum) }).toEqual(expected.get(b.tenant_id));
      }

      // 5. Rebuilt from the stream, the projection is the same.
      const result = await replayProjection({ nc: nats.nc, pool, projection, logger: silentLogger });
      expect(result).toEqual({ applied: seqs.length, lastSeq: seqs.at(-1) });
      expect(await snapshot()).toEqual(live);
    }, 900_000);
  },
);
