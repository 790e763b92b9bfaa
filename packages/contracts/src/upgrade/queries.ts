import { z } from 'zod';
import { TenantId } from '../tenant/fields.js';
import { CoreSubjects } from '../topology.js';

/**
 * Request-reply subject the provisioner answers (core NATS, queue group `provisioner`): how the
 * gateway starts, reads, pauses, resumes, cancels and rolls back fleet schema upgrades without
 * reading the provisioner's tables. One JSON request (`op` says what), one JSON reply.
 */
export const UpgradeQuerySubjects = { upgrades: CoreSubjects.upgrades } as const;

export const UpgradeId = z.uuid().describe('Fleet upgrade id (also its operation id)');

export const UpgradeWave = z.object({
  percent: z
    .number()
    .positive()
    .max(100)
    .describe('Cumulative share of the selected tenants upgraded once this wave is done'),
  soakSeconds: z
    .number()
    .int()
    .min(0)
    .max(86_400)
    .default(0)
    .describe('How long to wait after this wave before the next one starts'),
});

/** What an operator asks for (`POST /api/admin/upgrades` body, `tenant-cli upgrade start` flags). */
export const UpgradeSpec = z.object({
  targetVersion: z.number().int().positive().describe('Workspace schema version to move the tenants to'),
  /** Cumulative share of the selected tenants each wave reaches; the last wave takes the rest. */
  waves: z
    .array(UpgradeWave)
    .min(1)
    .max(20)
    .default([{ percent: 100, soakSeconds: 0 }])
    .describe('Waves in order, e.g. a 1 % canary with a soak time, then 10 %, then 100 %'),
  filters: z
    .object({
      plan: z.string().min(1).max(64).optional(),
      region: z.string().min(1).max(64).optional(),
      cluster: z.string().min(1).max(64).optional(),
    })
    .default({})
    .describe('Only the tenants on this plan, in this region, on this cluster'),
  concurrencyPerCluster: z
    .number()
    .int()
    .min(1)
    .max(4)
    .default(4)
    .describe('Tenants upgraded at once on one cluster (at most 4)'),
  maxTenantsPerSecond: z
    .number()
    .min(0)
    .max(10_000)
    .optional()
    .describe(
      "Tenants started per second on one cluster, at most (0: no cap; default: the provisioner's UPGRADE_MAX_TENANTS_PER_SECOND). " +
        'The pace leaves CPU to the tenants that are not being upgraded',
    ),
  failurePolicy: z
    .object({
      pauseOnCanaryFailure: z.boolean().default(true),
      maxFailedPercent: z.number().min(0).max(100).default(5),
    })
    .default({ pauseOnCanaryFailure: true, maxFailedPercent: 5 })
    .describe('Pause when a canary tenant fails, or when more than this share of a wave fails'),
});
export type UpgradeSpec = z.output<typeof UpgradeSpec>;
export type UpgradeSpecInput = z.input<typeof UpgradeSpec>;

export const UpgradeStatus = z.enum(['running', 'paused', 'cancelled', 'completed']);
export type UpgradeStatus = z.infer<typeof UpgradeStatus>;
export const TenantUpgradeStatus = z.enum(['pending', 'running', 'ok', 'failed', 'skipped']);
export type TenantUpgradeStatus = z.infer<typeof TenantUpgradeStatus>;

export const TenantUpgradeView = z.object({
  tenantId: TenantId,
  wave: z.number().int().min(0).describe('0 is the canary wave'),
  status: TenantUpgradeStatus,
  error: z.string().nullable().describe('Why it failed, or why it was skipped'),
  lockHeldMs: z.number().nullable().describe("How long the tenant's tables were locked"),
});
export type TenantUpgradeView = z.infer<typeof TenantUpgradeView>;

export const UpgradeView = z.object({
  upgradeId: UpgradeId,
  targetVersion: z.number().int(),
  status: UpgradeStatus,
  statusReason: z.string().nullable().describe('Why it paused or was cancelled'),
  rollbackOf: UpgradeId.nullable().describe('The upgrade this one rolls back'),
  spec: UpgradeSpec,
  wavesDone: z.number().int().min(0).describe('Waves finished and accepted'),
  counts: z
    .object({
      pending: z.number().int().min(0),
      running: z.number().int().min(0),
      ok: z.number().int().min(0),
      failed: z.number().int().min(0),
      skipped: z.number().int().min(0),
    })
    .describe('Tenants in each status'),
  total: z.number().int().min(0),
  rate: z.number().min(0).describe('Tenants per second so far'),
  etaSeconds: z.number().min(0).optional().describe('Seconds left at that rate'),
  createdAt: z.iso.datetime({ offset: true }),
  updatedAt: z.iso.datetime({ offset: true }),
  tenants: z.array(TenantUpgradeView).describe('Per tenant, in upgrade order (as the request asked)'),
});
export type UpgradeView = z.infer<typeof UpgradeView>;

/** Which tenant rows a read returns: all, those not finished, the failed ones, or none. */
export const UpgradeTenantRows = z.enum(['all', 'unfinished', 'failed', 'none']);
export type UpgradeTenantRows = z.infer<typeof UpgradeTenantRows>;

const target = { upgradeId: UpgradeId, actor: z.string().max(200).optional() };

export const UpgradeRequest = z.discriminatedUnion('op', [
  z.object({
    op: z.literal('start'),
    upgradeId: UpgradeId.optional().describe('Names the upgrade (a retry with the same id starts nothing new)'),
    spec: UpgradeSpec,
    actor: z.string().max(200).optional(),
  }),
  z.object({ op: z.literal('get'), upgradeId: UpgradeId, tenants: UpgradeTenantRows.default('all') }),
  z.object({ op: z.literal('pause'), ...target }),
  z.object({ op: z.literal('resume'), ...target }),
  z.object({ op: z.literal('cancel'), ...target }),
  z.object({ op: z.literal('rollback'), ...target }),
  z.object({
    op: z.literal('list'),
    limit: z.number().int().min(1).max(100).default(20).describe('Most recent first, at most this many'),
  }),
]);
export type UpgradeRequest = z.input<typeof UpgradeRequest>;

export const UpgradeErrorCode = z.enum(['bad-request', 'unknown-version', 'not-found', 'conflict', 'unavailable']);
export type UpgradeErrorCode = z.infer<typeof UpgradeErrorCode>;

/** What `list` answers: the most recent upgrades first, counts only (`tenants` is empty, as with `tenants=none`). */
export const UpgradeList = z.array(UpgradeView).describe('Most recent first, without per-tenant rows');
export type UpgradeList = z.infer<typeof UpgradeList>;

/** The answer: an error, the upgrade (every op but `list`), or the list (`list`). */
export const UpgradeReply = z.union([
  z.object({ ok: z.literal(false), error: z.object({ code: UpgradeErrorCode, message: z.string() }) }),
  z.object({ ok: z.literal(true), result: UpgradeView }),
  z.object({ ok: z.literal(true), upgrades: UpgradeList }),
]);
export type UpgradeReply = z.infer<typeof UpgradeReply>;
