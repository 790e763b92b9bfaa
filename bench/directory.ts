/**
 * Tenant lookup on the request path: the gateway's in-memory directory with 10,000
 * tenants, filled from real tenant events. Measures each lookup (p50/p99) and the hit
 * rate of a realistic mix (99.5 % known tenants, 0.5 % unknown ids).
 */
import { randomUUID } from 'node:crypto';
import { TenantProvisioned, TenantRegistered } from '@ttm/contracts';
import { TenantDirectory } from '@ttm/gateway';
import type { ReceivedEvent } from '@ttm/service-kit';
import { BenchReport, quantile } from './lib/report.js';

export async function run(): Promise<void> {
  const report = new BenchReport('directory');
  const tenants = 10_000;
  const lookups = 1_000_000;
  report.describe({ tenants, lookups, unknown_share: 0.005 });

  const directory = new TenantDirectory();
  const ids: string[] = [];
  let seq = 0;
  const event = (type: string, data: Record<string, unknown>): ReceivedEvent => ({
    meta: { id: randomUUID(), type, source: '/bench', specversion: '1.0', time: new Date().toISOString() },
    data,
    seq: ++seq,
    subject: `evt.tenant.${String(data.tenantId)}`,
    deliveryCount: 1,
  });
  for (let i = 0; i < tenants; i++) {
    const tenantId = randomUUID();
    ids.push(tenantId);
    const provisioningId = randomUUID();
    directory.apply(
      event(TenantRegistered.type, {
        tenantId,
        provisioningId,
        organizationName: `Org ${i}`,
        adminEmail: `admin${i}@bench.test`,
        plan: 'pro',
        region: 'us-east-1',
        registeredAt: new Date().toISOString(),
      }),
    );
    directory.apply(
      event(TenantProvisioned.type, {
        tenantId,
        provisioningId,
        slug: `org-${i}`,
        placement: { region: 'us-east-1', cluster: 'use1-a', kind: 'schema', database: 'db', schema: `ws_${i}` },
        durationMs: 100,
        provisionedAt: new Date().toISOString(),
      }),
    );
  }
  const unknown = Array.from({ length: 50 }, () => randomUUID());
  const keys = Array.from({ length: 100_000 }, (_, i) =>
    i % 200 === 0 ? unknown[i % unknown.length]! : ids[Math.floor(Math.random() * ids.length)]!,
  );

  // Warm up the JIT, then time every lookup individually.
  for (let i = 0; i < 200_000; i++) directory.get(keys[i % keys.length]!);
  const samples = new Float64Array(lookups);
  let found = 0;
  const started = process.hrtime.bigint();
  for (let i = 0; i < lookups; i++) {
    const t0 = process.hrtime.bigint();
    const entry = directory.get(keys[i % keys.length]!);
    samples[i] = Number(process.hrtime.bigint() - t0);
    if (entry?.status === 'active') found++;
  }
  const elapsedNs = Number(process.hrtime.bigint() - started);
  const sorted = Array.from(samples);
  report.figure('lookup p50', quantile(sorted, 0.5) / 1000, 'µs');
  report.figure('lookup p99', quantile(sorted, 0.99) / 1000, 'µs', '< 50 µs');
  report.figure('lookups per second (one core, timed)', lookups / (elapsedNs / 1e9), 'ops/s');
  report.figure('hit rate', (found / lookups) * 100, '%', '> 99 %');
  report.figure('heap used', process.memoryUsage().heapUsed / 1024 ** 2, 'MiB');
  await report.save();
}
