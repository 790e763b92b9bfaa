import type { JetStreamClient } from '@nats-io/jetstream';
import type { Catalog, Logger, NatsConnection, Pool, Redis } from '@ttm/service-kit';
import type { FastifyRequest } from 'fastify';
import type { Registry } from 'prom-client';
import type { AuditRecorder } from './audit/recorder.js';
import type { GatewayConfig } from './config.js';
import type { TenantDirectory } from './tenants/directory.js';

/** What the gateway's route plugins are given: its connections and shared state, built once in main.ts. */
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
  /** The dashboard's session check for admin routes (see plugins/adminAuth.ts); none: X-Admin-Key only. */
  adminSession?: (request: FastifyRequest) => Promise<boolean>;
}
