import { DEFAULT_UPGRADE_TENANTS_PER_SECOND } from '@ttm/data-plane';
import { catalogEnv, commonEnv, dataPlaneBudgetEnv, keyEncryptionEnv, portEnv, servicePorts } from '@ttm/service-kit';
import { z } from 'zod';

export const provisionerEnv = commonEnv.extend({
  ...catalogEnv,
  ...dataPlaneBudgetEnv,
  // Opens the admin password hash a registration command carries sealed.
  ...keyEncryptionEnv,
  PROVISIONER_PORT: portEnv.port(servicePorts.provisioner).describe('HTTP port of the provisioner health and metrics'),
  PROVISIONER_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(64).describe('Tenants provisioned at once'),
  PROVISIONING_STEP_ATTEMPTS: z.coerce
    .number()
    .int()
    .min(1)
    .max(20)
    .default(3)
    .describe('Attempts per saga step before compensation'),
  PROVISIONING_RETRY_DELAY: portEnv.duration('200ms').describe('First delay between attempts of a step (doubles)'),
  WORKSPACE_WARM_POOL: z.coerce
    .number()
    .int()
    .min(0)
    .max(1000)
    .default(64)
    .describe('Workspace schemas kept ready per cluster database, created while idle (0: off)'),
  DATA_PLANE_POOL_MAX: z.coerce
    .number()
    .int()
    .min(1)
    .max(100)
    .default(8)
    .describe('Connections per data-plane database (bounded pool per cluster, never per tenant)'),
  UPGRADE_MAX_TENANTS_PER_SECOND: z.coerce
    .number()
    .min(0)
    .max(10_000)
    .default(DEFAULT_UPGRADE_TENANTS_PER_SECOND)
    .describe(
      'Schema upgrades start at most this many tenants per second per cluster unless the upgrade request sets maxTenantsPerSecond (0: no cap); leaves CPU to the other tenants',
    ),
  SCHEMA_DRIFT_CHECK_EVERY: portEnv
    .duration('1h')
    .describe(
      'How often the provisioner compares every workspace schema with its version reference (gauge workspace_schema_drifted_tenants; 0 turns it off)',
    ),
});
export type ProvisionerConfig = z.output<typeof provisionerEnv>;
