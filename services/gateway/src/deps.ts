import type { JetStreamClient } from '@nats-io/jetstream';
import type { Catalog, KeyEncryptionKeys, Logger, NatsConnection, Pool, Redis } from '@ttm/service-kit';
import type { FastifyRequest } from 'fastify';
import type { Registry } from 'prom-client';
import type { GatewayConfig } from './config.js';
import type { ApiKeys } from './features/apiKeys/index.js';
import type { AuditRecorder, RefusedLoginAudit } from './features/audit/index.js';
import type { AccessTokens, PasswordHasher, RefreshTokens, SigningKeyRing } from './features/auth/index.js';
import type { BackupIndex } from './features/backups/index.js';
import type { DataPlanePools } from './features/dataPlane/index.js';
import type { EmailVerificationParts } from './features/emailVerification/index.js';
import type { ConsumerBacklog } from './features/fleet/index.js';
import type { FreezeWatcher } from './features/freezes/index.js';
import type { MigrationIndex } from './features/migrations/index.js';
import type { OperationTracker } from './features/operations/index.js';
import type { QuotaReader } from './features/quotas/index.js';
import type { TenantDirectory } from './features/tenants/index.js';
import type { Invitations } from './features/users/invitations.js';
import type { IdempotencyStore } from './idempotency.js';
import type { RequestPathComponents } from './plugins/requestPath/index.js';

/**
 * What the gateway's route plugins are given: its connections and every long-lived component,
 * each built once by the composition root (`gateway.ts`, `startGateway`) and closed by it at
 * shutdown. Plugins never build or cache a component of their own.
 */
export interface GatewayDeps {
  config: GatewayConfig;
  logger: Logger;
  metrics: Registry;
  nc: NatsConnection;
  js: JetStreamClient;
  /** Control-plane database: the gateway's own schema (projections, tokens, keys). */
  pool: Pool;
  redis: Redis;
  catalog: Catalog;
  directory: TenantDirectory;
  audit: AuditRecorder;
  /** Refused logins into AUDIT, one entry per account or address per LOGIN_AUDIT_WINDOW with a count. */
  refusedLogins: RefusedLoginAudit;
  /** Signing keys of access tokens, kept current from `gateway.signing_keys`. */
  keys: SigningKeyRing;
  /** The key-encryption keys that seal the signing keys at rest (TTM_KEK). */
  kek: KeyEncryptionKeys;
  /** Issues and verifies access tokens (it remembers verified ones). */
  accessTokens: AccessTokens;
  refreshTokens: RefreshTokens;
  /** argon2id hashing of passwords (registration, sign-in). */
  passwords: PasswordHasher;
  /** One bounded pool per data-plane database (Twenty users' password hashes, workspace reads and writes). */
  clusterPools: DataPlanePools;
  /** Tenant API keys (authentication and the key routes; it listens for revocations). */
  apiKeys: ApiKeys;
  /** `Idempotency-Key` answers in Redis (registration and tenant POSTs). */
  idempotency: IdempotencyStore;
  /** Provisioning operations as the tenant directory sees them. */
  operations: OperationTracker;
  /** Every backup, restore and verification, folded from `evt.backup.>`. */
  backups: BackupIndex;
  /** Every migration, folded from `evt.migration.>`. */
  migrations: MigrationIndex;
  /** Tenant write freezes (`ttm-write-freeze`), in memory. */
  freezes: FreezeWatcher;
  /** Quotas, limits and usage as the KV buckets and quota events tell them. */
  quotas: QuotaReader;
  /** Pending work of the services' durable consumers (stats route, fleet metrics). */
  backlog: ConsumerBacklog;
  /** Quota gate, rate limiter and api_calls meter of the tenant request path. */
  requestPath: RequestPathComponents;
  /** Tenants where a user with this email accepted an invitation (login candidates besides admins). */
  memberTenants?: (email: string) => Promise<string[]>;
  /** Invitation tokens of invited users (features/users). */
  invitations: Invitations;
  /** E-mail verification of registrations' admins: tokens, the mail outbox and its dispatcher. */
  emailVerification: EmailVerificationParts;
  /** The dashboard's session check for admin routes (see plugins/adminAuth.ts); none: X-Admin-Key only. */
  adminSession?: (request: FastifyRequest) => Promise<boolean>;
}
