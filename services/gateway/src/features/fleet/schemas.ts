import { z } from 'zod';

const Counts = z.record(z.string(), z.number().int().nonnegative());
const Seconds = z.number().nonnegative().nullable();

export const FleetStats = z.object({
  tenants: z.object({
    total: z.number().int().nonnegative(),
    by_status: Counts,
    by_plan: Counts,
    by_region: Counts,
  }),
  provisioning: z.object({
    queue_depth: z
      .number()
      .int()
      .nonnegative()
      .nullable()
      .describe('Tenant commands waiting for the provisioner (null when NATS cannot tell)'),
    completed: z.number().int().nonnegative(),
    failed: z.number().int().nonnegative(),
    duration_seconds: z
      .object({ p50: Seconds, p95: Seconds, p99: Seconds })
      .describe('Registration to active, over every completed provisioning'),
  }),
});
export type FleetStats = z.output<typeof FleetStats>;
