import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { campaign, type FaultResult, type FaultStack, runFault, startFaultStack } from './support/campaign.js';

/**
 * Issue 11's fault campaign with real processes: the supervised stack (two gateways on one port,
 * two provisioners, one of each other service) on a 3-node NATS cluster at replicas 3, with a
 * private Redis and PostgreSQL, under steady registrations, tenant API writes and usage. After
 * each fault: nothing acknowledged is lost or doubled, and readiness went red and came back green
 * by itself (support/campaign.ts says how each is checked). Figures: `npm run bench -- faults`.
 */
let stack: FaultStack;
const results: FaultResult[] = [];

beforeAll(async () => {
  stack = await startFaultStack();
}, 420_000);

afterAll(async () => {
  await stack?.stop();
}, 120_000);

describe('fault campaign on a 3-node NATS cluster', () => {
  for (const fault of campaign) {
    it(`${fault.name}: nothing acknowledged lost or doubled, readiness red then green by itself`, async () => {
      const result = await runFault(stack, fault);
      results.push(result);
      expect(result.red).not.toBe('');
      expect(result.recoverySeconds).toBeGreaterThan(0);
    }, 600_000);
  }

  it('the supervisor restarted each killed service once and the stack kept running', async () => {
    const text = await stack.supervision.metrics.metrics();
    for (const name of ['gateway', 'provisioner', 'metering', 'quota', 'backup', 'webhooks']) {
      // At least once: a service may also exit by itself while a dependency is away.
      expect(text).toMatch(new RegExp(`^supervisor_restarts_total\\{service="${name}"\\} [1-9]\\d*$`, 'm'));
    }
  });
});
