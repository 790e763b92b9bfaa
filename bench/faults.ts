/**
 * The fault campaign of issue 11 as figures: the supervised stack on a 3-node NATS cluster
 * (streams at replicas 3), private Redis and PostgreSQL, under steady registrations, tenant API
 * writes and usage (test/faults/support/campaign.ts). For each fault: requests that failed (each
 * is retried with the same Idempotency-Key or message id until acknowledged) and seconds until
 * every instance was ready and every kind of load succeeded again. The invariants (nothing
 * acknowledged lost or doubled) are checked after each fault, as in the test; a broken one fails
 * the bench.
 */
import { loadavg } from 'node:os';
import { campaign, runFault, startFaultStack } from '../test/faults/support/campaign.js';
import { BenchReport } from './lib/report.js';

export async function run(): Promise<void> {
  const report = new BenchReport('faults');
  report.describe({
    nats_nodes: 3,
    replicas: 3,
    instances: 'gateway=2,provisioner=2, one of each other',
    load_before: loadavg(),
  });
  const stack = await startFaultStack({ say: (line) => console.log(line) });
  try {
    for (const fault of campaign) {
      const slug = fault.name
        .toLowerCase()
        .replace(/[^a-z0-9]+/g, '-')
        .replace(/^-|-$/g, '');
      let result: Awaited<ReturnType<typeof runFault>>;
      try {
        result = await runFault(stack, fault);
      } catch (error) {
        // A broken invariant is a finding to print, not a reason to hide the other figures.
        console.log(`bench faults ${slug}: FAILED: ${error instanceof Error ? error.message : String(error)}`);
        report.figure(`${slug} invariants broken`, 1, '');
        continue;
      }
      console.log(`bench faults ${slug}: readiness red: ${result.red}`);
      report.figure(`${slug} requests failed`, result.failedRequests, `of ${result.requests}`);
      report.figure(`${slug} seconds to recover`, result.recoverySeconds, 's');
      if (result.recoveryAfterRestoreSeconds !== result.recoverySeconds) {
        report.figure(`${slug} seconds to recover after restore`, result.recoveryAfterRestoreSeconds, 's');
      }
    }
    report.describe({ load_after: loadavg() });
  } finally {
    await stack.stop();
  }
  await report.save();
}
