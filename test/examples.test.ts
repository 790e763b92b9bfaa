import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { type JetStreamClient, jetstreamManager } from '@nats-io/jetstream';
import { headers, type NatsConnection } from '@nats-io/transport-node';
import { Streams, Subjects } from '@ttm/contracts';
import { windowOf } from '@ttm/metering';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startConnectedStack, stopConnectedStack, type TestStack } from './support/stack.js';
import { publishUsage, usageDrained } from './support/usage.js';

const subscriber = fileURLToPath(new URL('../examples/billing-subscriber/subscriber.mjs', import.meta.url));
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

let stack: TestStack;
let nc: NatsConnection;
let js: JetStreamClient;
// Metering's clock, moved forward so windows end and close (as in the metering window tests).
const clock = { now: Date.now() };
const ledger: { tenantId: string; value: number; at: Date }[] = [];
let closedBefore = 0;

beforeAll(async () => {
  ({ stack, nc, js } = await startConnectedStack({
    gateway: false,
    provisioner: false,
    env: { METERING_SAMPLE_INTERVAL: '1h', METERING_CLOSE_INTERVAL: '1h', METERING_WINDOW_GRACE: '5m' },
  }));
  await stack.startMetering({ now: () => new Date(clock.now) });
}, 60_000);

afterAll(() => stopConnectedStack({ stack, nc }));

/** Run the example until it has drained BILLING; its invoice lines (stdout) and its log (stderr). */
function runSubscriber(env: Record<string, string> = {}): Promise<{ lines: string[]; stderr: string; code: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [subscriber], {
      env: { PATH: process.env.PATH, NATS_URL: stack.nats.url, EXIT_WHEN_IDLE: '1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ lines: stdout.split('\n').filter((l) => l.startsWith('INVOICE')), stderr, code: code ?? -1 });
    });
  });
}

/** Usage at a moment metering still counts as on time, then the clock jumps `later` ahead and windows close. */
async function usageThenClose(usages: { tenantId: string; value: number }[], later: number) {
  clock.now += HOUR;
  const at = new Date(clock.now - 60_000);
  await publishUsage(
    js,
    usages.map((u) => ({ ...u, dedupKey: `ex:${randomUUID()}`, at })),
  );
  await usageDrained(nc);
  clock.now += later;
  const closed = await stack.metering!.closeNow();
  expect(closed.published).toBeGreaterThan(0);
  for (const u of usages) ledger.push({ ...u, at });
  // The invoice lines the example must print: every window that ended since the last close, with
  // all the usage in it (a month window also holds the earlier rounds').
  const until = closed.closedBefore!.getTime();
  const expected = new Map<string, number>();
  for (const u of ledger) {
    for (const granularity of ['hour', 'day', 'month'] as const) {
      const w = windowOf(granularity, u.at);
      if (w.end.getTime() > until || w.end.getTime() <= closedBefore) continue;
      const key =
        `tenant=${u.tenantId} meter=api_calls granularity=${granularity} ` +
        `window=${w.start.toISOString()}/${w.end.toISOString()}`;
      expected.set(key, (expected.get(key) ?? 0) + u.value);
    }
  }
  closedBefore = until;
  return [...expected].map(([key, value]) => `${key} quantity=${value}`);
}

const essentials = (line: string) => line.replace(/^INVOICE /, '').replace(/ unit=.*$/, '');

describe('billing subscriber example', () => {
  it('prints one invoice line per closed window, and a restart prints nothing again', async () => {
    const a = randomUUID();
    const b = randomUUID();
    const expected = await usageThenClose(
      [
        { tenantId: a, value: 1_200 },
        { tenantId: b, value: 40 },
      ],
      3 * DAY,
    );
    expect(expected.length).toBeGreaterThanOrEqual(4);

    const first = await runSubscriber();
    expect(first.code, first.stderr).toBe(0);
    expect(first.lines.map(essentials).sort()).toEqual(expected.sort());
    // Priced from the example's own table: 1,200 calls at USD 0.00005.
    expect(first.lines.find((l) => l.includes(`tenant=${a}`) && l.includes('granularity=hour'))).toMatch(
      /unit=calls amount=USD 0\.060000$/,
    );

    // Restarted: its durable consumer remembers every acknowledged window.
    const second = await runSubscriber();
    expect(second.code, second.stderr).toBe(0);
    expect(second.lines).toEqual([]);

    // New windows closed meanwhile: only they are printed.
    const more = await usageThenClose([{ tenantId: a, value: 7 }], 3 * DAY);
    const third = await runSubscriber();
    expect(third.lines.map(essentials).sort()).toEqual(more.sort());
  }, 60_000);

  it('rejects a message that breaks the schema, and filters by granularity with its own consumer', async () => {
    const tenantId = randomUUID();
    // A message to spec in its headers, not in its body (no windowStart, value, …).
    const h = headers();
    for (const [k, v] of Object.entries({
      'ce-id': `${tenantId}/bad`,
      'Nats-Msg-Id': `${tenantId}/bad`,
      'ce-type': 'ttm.billing.window-closed.v1',
      'ce-source': '/test',
      'ce-specversion': '1.0',
      'ce-time': new Date().toISOString(),
      'content-type': 'application/json',
    })) {
      h.set(k, v);
    }
    await js.publish(Subjects.billing(tenantId, 'api_calls'), JSON.stringify({ tenantId, meter: 'api_calls' }), {
      headers: h,
    });

    const monthly = await runSubscriber({ BILLING_CONSUMER: 'billing-monthly', BILLING_GRANULARITY: 'month' });
    expect(monthly.code, monthly.stderr).toBe(0);
    expect(monthly.lines.every((l) => l.includes('granularity=month'))).toBe(true);
    expect(monthly.stderr).toMatch(/rejecting billing\..* breaks ttm\.billing\.window-closed\.v1/);

    const info = await (await jetstreamManager(nc)).consumers.info(Streams.BILLING, 'billing-monthly');
    expect(info.num_pending).toBe(0);
    expect(info.num_ack_pending).toBe(0);
  }, 30_000);
});
