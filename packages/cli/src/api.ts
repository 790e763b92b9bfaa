/** The gateway's JSON shapes, as far as the CLI reads them (the tenant's is spelled once, in @ttm/contracts). */
import type { TenantListItem } from '@ttm/contracts';

export type ProvisioningStatus = 'pending' | 'provisioning' | 'active' | 'failed';

export interface RegistrationAccepted {
  provisioning_id: string;
  tenant_id: string;
  status: ProvisioningStatus;
}

export interface ProvisioningState {
  provisioning_id: string;
  tenant_id: string;
  status: ProvisioningStatus;
  progress: number;
  step: string | null;
  slug: string | null;
  error?: string;
}

export interface Operation {
  id: string;
  kind: string;
  status: 'pending' | 'running' | 'succeeded' | 'failed';
  progress: number;
  step: string | null;
  started_at: string;
  updated_at: string;
  result?: { tenant_id: string; slug: string };
  error?: string;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export type Tenant = TenantListItem;

export interface TenantDetail extends Tenant {
  placement: { region: string; cluster: string; kind: string; database: string; schema: string } | null;
  quotas: { storage_bytes: number; users: number; api_calls_per_month: number } | null;
  provisioning: {
    id: string;
    status: string;
    progress: number;
    step: string | null;
    error: string | null;
    started_at: string | null;
    finished_at: string | null;
    duration_ms: number | null;
  } | null;
  timeline: { seq: number; type: string; time: string; data: unknown }[];
}

export interface Stats {
  tenants: {
    total: number;
    by_status: Record<string, number>;
    by_plan: Record<string, number>;
    by_region: Record<string, number>;
  };
  provisioning: {
    queue_depth: number;
    completed: number;
    failed: number;
    duration_seconds: { p50: number | null; p95: number | null; p99: number | null };
  };
}

export interface AuditEntry {
  id: string;
  time: string;
  actor: { kind: string; id: string | null };
  action: string;
  target: string | null;
  client_address: string | null;
  request_id: string | null;
  outcome: 'success' | 'failure';
  detail?: unknown;
}

/** `POST …/backups`, `…/restore`, `…/migrate`: 202 with the operation to follow. */
export interface AcceptedOperation {
  operation_id: string;
  backup_id?: string;
  restore_id?: string;
  mode?: 'in-place' | 'clone';
  target_tenant_id?: string;
}

export interface BackupItem {
  id: string;
  tenant_id: string;
  status: 'running' | 'completed' | 'failed' | 'deleted';
  trigger: string | null;
  plan: string | null;
  created_at: string;
  completed_at: string | null;
  duration_ms: number | null;
  size_bytes: number | null;
  rows: number | null;
  snapshot_at: string | null;
  error: string | null;
  verification: { id: string; result: 'ok' | 'mismatch'; verified_at: string } | null;
}

/** A webhook endpoint as `/api/admin/webhooks` shows it (the secret only in `WebhookSecret`). */
export interface WebhookEndpoint {
  id: string;
  url: string;
  description: string | null;
  eventTypes: string[];
  tenantId: string | null;
  owner: 'operator' | 'tenant';
  status: 'enabled' | 'disabled';
  disabledReason: string | null;
  consecutiveFailures: number;
  failingSince: string | null;
  createdAt: string;
  secretRotatedAt: string | null;
  previousSecretExpiresAt: string | null;
}

export interface WebhookSecret {
  endpoint: WebhookEndpoint;
  secret: string;
}

export interface WebhookDelivery {
  id: string;
  endpointId: string;
  eventId: string;
  eventType: string;
  tenantId: string | null;
  status: 'pending' | 'succeeded' | 'failed';
  attempts: number;
  nextAttemptAt: string | null;
  lastAttemptAt: string | null;
  lastStatusCode: number | null;
  lastError: string | null;
  createdAt: string;
  deliveredAt: string | null;
}

export type UpgradeStatus = 'running' | 'paused' | 'cancelled' | 'completed';
export type TenantUpgradeStatus = 'pending' | 'running' | 'ok' | 'failed' | 'skipped';

/** `GET /api/admin/upgrades/{id}`: a fleet schema upgrade as the provisioner keeps it. */
export interface Upgrade {
  upgradeId: string;
  targetVersion: number;
  status: UpgradeStatus;
  statusReason: string | null;
  rollbackOf: string | null;
  spec: {
    waves: { percent: number; soakSeconds: number }[];
    filters: { plan?: string; region?: string; cluster?: string };
    concurrencyPerCluster: number;
    maxTenantsPerSecond?: number;
    failurePolicy: { pauseOnCanaryFailure: boolean; maxFailedPercent: number };
  };
  wavesDone: number;
  counts: Record<TenantUpgradeStatus, number>;
  total: number;
  rate: number;
  etaSeconds?: number;
  createdAt: string;
  updatedAt: string;
  tenants: {
    tenantId: string;
    wave: number;
    status: TenantUpgradeStatus;
    error: string | null;
    lockHeldMs: number | null;
  }[];
}

/** `POST /api/admin/upgrades` and `…/rollback`: 202 with the upgrade as planned. */
export interface AcceptedUpgrade {
  operation_id: string;
  upgrade: Upgrade;
}

/** `GET /api/admin/tenants/idle`. */
export interface IdleTenantPage {
  items: {
    tenant_id: string;
    plan: string;
    status: string;
    idle_days: number;
    last_activity_at: string | null;
    last_sign_in_at: string | null;
    last_api_call_at: string | null;
    idle_at: string | null;
    verdict: string;
  }[];
  idle: number;
  truncated: boolean;
}
