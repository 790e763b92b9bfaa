import type { z } from 'zod';
import { MAX_DELIVERIES_ADVISORY_TYPE, type MaxDeliveriesAdvisoryData } from './advisories.js';
import { AuditRecorded } from './audit/events.js';
import { backupSamples } from './backup/samples.js';
import type { CloudEventAttributes } from './cloudEventAttributes.js';
import type { MessageDefinition } from './message.js';
import { migrationSamples } from './migration/samples.js';
import { OverrideQuotas } from './quota/commands.js';
import { QuotaCleared, QuotaExceeded, QuotasOverridden, QuotaWarning } from './quota/events.js';
import { samplePlacement as placement, sampleTenantId as tenantId } from './sampleValues.js';
import {
  ActivateTenant,
  ArchiveTenant,
  ChangeTenantPlacement,
  RegisterOrganization,
  RetryProvisioning,
  SuspendTenant,
  UnarchiveTenant,
  UpgradeTenantSchema,
} from './tenant/commands.js';
import {
  ProvisioningFailed,
  ProvisioningRetried,
  ProvisioningStepCompleted,
  TenantActivated,
  TenantArchived,
  TenantPlacementChanged,
  TenantProvisioned,
  TenantRegistered,
  TenantSchemaUpgraded,
  TenantSuspended,
  TenantUnarchived,
} from './tenant/events.js';
import { UsageRecorded, UsageRecordedBatch, WindowClosed } from './usage/events.js';
import { AlertFiring, AlertResolved, WebhookEndpointDisabled } from './webhook/events.js';

/**
 * One valid payload per message type, for tests, examples and the generated docs. Values are
 * already in their parsed form (trimmed strings), so `decodeData(encodeMessage(sample))` equals them.
 */

const provisioningId = '5d2f8e91-3b4c-4a7d-8e6f-1a2b3c4d5e6f';

const entries: (readonly [MessageDefinition, unknown])[] = [];
/** Type-checks `data` against the definition's schema input type. */
function sample<D extends MessageDefinition>(def: D, data: z.input<D['schema']>): void {
  entries.push([def, data]);
}

sample(RegisterOrganization, {
  provisioningId,
  tenantId,
  organizationName: 'Acme Corporation',
  adminEmail: 'admin@acme.example',
  adminPasswordHash:
    '$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHRzb21lc2FsdA$RdescudvJCsgt3ub+b+dWRWJTmaaJObGRdescudvJCs',
  plan: 'pro',
  region: 'eu-west',
  requestedAt: '2025-01-15T10:00:00.000Z',
});
sample(SuspendTenant, {
  tenantId,
  reason: 'Invoice 2025-001 unpaid after 30 days',
  actor: { kind: 'admin', id: 'ops@operator.example' },
});
sample(ActivateTenant, { tenantId, actor: { kind: 'admin', id: 'ops@operator.example' } });
sample(RetryProvisioning, { tenantId, actor: { kind: 'admin', id: 'ops@operator.example' } });
sample(UpgradeTenantSchema, { tenantId, upgradeId: '3c1d9e2a-7b4f-4e8a-9c0d-1f2e3a4b5c6d', to: 2 });
sample(TenantSchemaUpgraded, {
  tenantId,
  upgradeId: '3c1d9e2a-7b4f-4e8a-9c0d-1f2e3a4b5c6d',
  from: 1,
  to: 2,
  lockHeldMs: 14.2,
  upgradedAt: '2025-03-01T02:00:04.000Z',
});

const archiveId = '7e6d5c4b-3a29-4180-9f7e-6d5c4b3a2918';
const unarchiveId = '2a3b4c5d-6e7f-4801-9a2b-3c4d5e6f7a8b';
sample(ArchiveTenant, {
  tenantId,
  archiveId,
  backupId: archiveId,
  reason: 'idle',
  actor: { kind: 'system', id: 'backup' },
});
sample(TenantArchived, {
  tenantId,
  archiveId,
  backupId: archiveId,
  reason: 'idle',
  actor: { kind: 'system', id: 'backup' },
  archivedAt: '2025-06-01T03:00:09.000Z',
});
sample(UnarchiveTenant, { tenantId, restoreId: unarchiveId, backupId: archiveId });
sample(TenantUnarchived, {
  tenantId,
  restoreId: unarchiveId,
  backupId: archiveId,
  unarchivedAt: '2025-06-20T08:12:03.000Z',
});

sample(TenantRegistered, {
  tenantId,
  provisioningId,
  organizationName: 'Acme Corporation',
  adminEmail: 'admin@acme.example',
  plan: 'pro',
  region: 'eu-west',
  registeredAt: '2025-01-15T10:00:00.120Z',
});
sample(ProvisioningStepCompleted, {
  tenantId,
  provisioningId,
  step: 'place',
  progress: 40,
  slug: 'acme',
  placement,
  completedAt: '2025-01-15T10:00:00.480Z',
});
sample(TenantProvisioned, {
  tenantId,
  provisioningId,
  slug: 'acme',
  placement,
  durationMs: 1840,
  provisionedAt: '2025-01-15T10:00:01.960Z',
});
sample(ProvisioningFailed, {
  tenantId,
  provisioningId,
  step: 'create-workspace',
  reason: 'create-workspace failed: sorry, too many clients already',
  resumable: true,
  failedAt: '2025-01-15T10:00:31.000Z',
});
sample(ProvisioningRetried, {
  tenantId,
  provisioningId,
  resumeAt: 'create-workspace',
  actor: { kind: 'admin', id: 'ops@operator.example' },
  retriedAt: '2025-01-15T10:05:00.000Z',
});
sample(TenantSuspended, {
  tenantId,
  reason: 'Invoice 2025-001 unpaid after 30 days',
  actor: { kind: 'admin', id: 'ops@operator.example' },
  suspendedAt: '2025-02-15T09:00:00.000Z',
});
sample(TenantActivated, {
  tenantId,
  actor: { kind: 'admin', id: 'ops@operator.example' },
  activatedAt: '2025-02-20T09:00:00.000Z',
});

sample(AuditRecorded, {
  actor: { kind: 'admin', id: 'ops@operator.example' },
  action: 'tenant-suspended',
  scope: tenantId,
  target: { kind: 'tenant', id: tenantId },
  clientAddress: '203.0.113.7',
  requestId: 'req-7f3a',
  outcome: 'success',
  detail: 'Invoice 2025-001 unpaid after 30 days',
  at: '2025-02-15T09:00:00.010Z',
});

sample(UsageRecorded, {
  tenantId,
  meter: 'api_calls',
  kind: 'count',
  value: 1287,
  at: '2025-02-15T09:00:01.000Z',
  dedupKey: 'gateway-7f3a:000000042',
});
sample(UsageRecordedBatch, {
  meter: 'api_calls',
  kind: 'count',
  batchKey: 'gateway-7f3a:000000042:0',
  records: [{ tenantId, value: 1287, at: '2025-02-15T09:00:01.000Z', dedupKey: 'gateway-7f3a:000000042' }],
});
sample(WindowClosed, {
  tenantId,
  meter: 'api_calls',
  kind: 'count',
  granularity: 'hour',
  windowStart: '2025-02-15T09:00:00.000Z',
  windowEnd: '2025-02-15T10:00:00.000Z',
  value: 48213,
});
sample(OverrideQuotas, {
  tenantId,
  limits: { api_calls_per_month: 10_000_000, storage_bytes: null },
  actor: { kind: 'admin', id: 'ops@operator.example' },
});
sample(QuotasOverridden, {
  tenantId,
  limits: { api_calls_per_month: 10_000_000, storage_bytes: null },
  actor: { kind: 'admin', id: 'ops@operator.example' },
  overriddenAt: '2025-02-16T08:00:00.000Z',
});
sample(QuotaWarning, {
  tenantId,
  meter: 'api_calls',
  window: '2025-02-01T00:00:00.000Z',
  used: 4_000_120,
  limit: 5_000_000,
  thresholdPercent: 80,
  at: '2025-02-15T09:00:01.200Z',
});
sample(QuotaExceeded, {
  tenantId,
  meter: 'api_calls',
  window: '2025-02-01T00:00:00.000Z',
  used: 5_000_310,
  limit: 5_000_000,
  at: '2025-02-15T16:20:02.400Z',
});
sample(QuotaCleared, {
  tenantId,
  meter: 'api_calls',
  window: '2025-02-01T00:00:00.000Z',
  used: 5_000_310,
  limit: 10_000_000,
  reason: 'limit-raised',
  at: '2025-02-16T08:00:00.300Z',
});

sample(ChangeTenantPlacement, {
  tenantId,
  migrationId: '6a5b4c3d-2e1f-4a0b-9c8d-7e6f5a4b3c2d',
  from: placement,
  to: { ...placement, region: 'us-east', cluster: 'us-east-1', database: 'twenty_us_east_1_a' },
});
const alert = {
  fingerprint: '4f1c2a9be07d3c55',
  alertname: 'ServiceDown',
  tenantId: null,
  labels: { alertname: 'ServiceDown', service: 'quota', severity: 'critical' },
  annotations: { summary: 'quota is down' },
  startsAt: '2025-02-16T08:00:00.000Z',
  generatorURL: 'http://prometheus:9090/graph',
};
sample(AlertFiring, alert);
sample(AlertResolved, { ...alert, endsAt: '2025-02-16T08:12:00.000Z' });
sample(WebhookEndpointDisabled, {
  endpointId: '9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b',
  tenantId,
  url: 'https://hooks.example.com/ttm',
  consecutiveFailures: 12,
  failingSince: '2025-02-13T08:00:00.000Z',
  disabledAt: '2025-02-16T08:00:00.000Z',
});

sample(TenantPlacementChanged, {
  tenantId,
  migrationId: '6a5b4c3d-2e1f-4a0b-9c8d-7e6f5a4b3c2d',
  from: placement,
  to: { ...placement, region: 'us-east', cluster: 'us-east-1', database: 'twenty_us_east_1_a' },
  changedAt: '2025-04-01T08:00:01.300Z',
});

entries.push(...backupSamples);
entries.push(...migrationSamples);

/** A valid payload for every command and event, keyed by `ce-type`. */
export const sampleData: Readonly<Record<string, unknown>> = Object.freeze(
  Object.fromEntries(entries.map(([def, data]) => [def.type, data])),
);

/** The sample for a definition; throws if there is none (the contracts tests require one each). */
export function sampleFor<D extends MessageDefinition>(def: D): z.input<D['schema']> {
  if (!(def.type in sampleData))
    throw new Error(`no sample for ${def.type}: add one to packages/contracts/src/samples.ts`);
  return structuredClone(sampleData[def.type]) as z.input<D['schema']>;
}

/** A max-deliveries advisory as nats-server publishes it. */
export const sampleMaxDeliveriesAdvisory: MaxDeliveriesAdvisoryData = {
  type: MAX_DELIVERIES_ADVISORY_TYPE,
  id: 'ajvtL7DmZZ3vJrOCPbc5hL',
  timestamp: '2025-01-15T10:05:00.123456789Z',
  stream: 'COMMANDS',
  consumer: 'provisioner-commands',
  stream_seq: 42,
  deliveries: 5,
};

/** Samples of the messages we read but do not define, keyed by their `type`. */
export const sampleExternalData: Readonly<Record<string, unknown>> = Object.freeze({
  [MAX_DELIVERIES_ADVISORY_TYPE]: sampleMaxDeliveriesAdvisory,
  'ttm.query.webhook-endpoints.request.v1': {
    op: 'create',
    scope: { kind: 'tenant', tenantId: '0b7f3c1e-5d2a-4e8b-9c6f-1a2b3c4d5e6f' },
    endpoint: { url: 'https://hooks.example.com/ttm', eventTypes: ['quota.warning', 'quota.exceeded'] },
  },
  'ttm.query.webhook-endpoints.reply.v1': {
    ok: false,
    error: { code: 'url-rejected', message: 'the host hooks.example.com resolves to 10.0.0.7 is a private address' },
  },
  'ttm.query.upgrades.request.v1': {
    op: 'start',
    upgradeId: '5f0c2b1a-7d3e-4c9a-8b6f-2e1d0c9b8a7f',
    spec: {
      targetVersion: 2,
      waves: [
        { percent: 1, soakSeconds: 300 },
        { percent: 10, soakSeconds: 60 },
        { percent: 100, soakSeconds: 0 },
      ],
      filters: { region: 'eu-west-1' },
      concurrencyPerCluster: 4,
      failurePolicy: { pauseOnCanaryFailure: true, maxFailedPercent: 5 },
    },
    actor: 'ops@example.com',
  },
  'ttm.query.upgrades.reply.v1': {
    ok: false,
    error: { code: 'conflict', message: 'upgrade 5f0c2b1a-7d3e-4c9a-8b6f-2e1d0c9b8a7f is cancelled; it cannot resume' },
  },
  'ttm.query.idle-tenants.request.v1': { idleOnly: true, limit: 100 },
  'ttm.query.idle-tenants.reply.v1': {
    ok: true,
    idle: 1,
    truncated: false,
    tenants: [
      {
        tenantId: '0b7f3c1e-5d2a-4e8b-9c6f-1a2b3c4d5e6f',
        plan: 'free',
        status: 'active',
        idleDays: 30,
        lastActivityAt: '2026-10-30T10:00:00.000Z',
        lastSignInAt: '2026-10-28T17:02:10.000Z',
        lastApiCallAt: '2026-10-30T10:00:00.000Z',
        activeSince: '2026-09-01T08:00:00.000Z',
        idleAt: '2026-11-29T10:00:00.000Z',
        verdict: 'idle',
      },
    ],
  },
  'ttm.query.usage-windows.request.v1': {
    tenantId: '0b7f3c1e-5d2a-4e8b-9c6f-1a2b3c4d5e6f',
    granularity: 'day',
    from: '2026-11-01T00:00:00.000Z',
    to: '2026-12-01T00:00:00.000Z',
    meters: ['api_calls'],
  },
  'ttm.query.usage-windows.reply.v1': {
    ok: true,
    truncated: false,
    windows: [
      {
        meter: 'api_calls',
        kind: 'count',
        granularity: 'day',
        windowStart: '2026-11-26T00:00:00.000Z',
        windowEnd: '2026-11-27T00:00:00.000Z',
        value: 1234,
        closed: true,
      },
    ],
  },
  'ttm.gateway.api-key-revoked.v1': {
    keyId: '3f2a9c0d-4b1e-4f6a-8c7d-5e3b2a190f8e',
    tenantId: '0b7f3c1e-5d2a-4e8b-9c6f-1a2b3c4d5e6f',
  },
});

/** The headers `encodeMessage` writes for a `ttm.tenant.registered.v1` event, plus a traceparent. */
export const sampleCloudEventHeaders: CloudEventAttributes = {
  'ce-id': '9f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f',
  'ce-type': 'ttm.tenant.registered.v1',
  'ce-source': '/ttm/provisioner',
  'ce-specversion': '1.0',
  'ce-time': '2025-01-15T10:00:00.120Z',
  'ce-subject': tenantId,
  'content-type': 'application/json',
  'Nats-Msg-Id': '9f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f',
  traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
};
