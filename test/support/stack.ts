import { randomBytes } from 'node:crypto';
import { type JetStreamClient, jetstream } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { type Backup, type BackupOptions, startBackup } from '@ttm/backup';
import { type Gateway, startGateway } from '@ttm/gateway';
import { type Metering, type MeteringOptions, startMetering } from '@ttm/metering';
import { type Provisioner, startProvisioner } from '@ttm/provisioner';
import { type Quota, startQuota } from '@ttm/quota';
import {
  bootstrapTopology,
  commonEnv,
  connectNats,
  createLogger,
  loadConfig,
  topologySettingsFrom,
} from '@ttm/service-kit';
import { createTestDatabase, PrivateNatsServer, TEST_POSTGRES_URL, type TestDatabase } from '@ttm/service-kit/testing';
import { Redis } from 'ioredis';
import pg from 'pg';

export const TEST_ADMIN_KEY = 'test-admin-key-0123456789';

export interface TestStack {
  env: Record<string, string>;
  nats: PrivateNatsServer;
  db: TestDatabase;
  /** Data-plane databases of the two test regions (created on first use by the provisioner). */
  clusterUrls: { 'us-east-1': string; 'eu-west-1': string };
  gateway: Gateway | undefined;
  provisioner: Provisioner | undefined;
  /** Gateway base URL. */
  url: string;
  startGateway(): Promise<Gateway>;
  /**
   * Another gateway instance on the same NATS, database and Redis prefix (`env` overrides some
   * variables, e.g. its own REDIS_URL); stopped by `stop()`.
   */
  startExtraGateway(env?: Record<string, string>): Promise<Gateway>;
  startProvisioner(): Promise<Provisioner>;
  stopProvisioner(): Promise<void>;
  metering: Metering | undefined;
  quota: Quota | undefined;
  startMetering(options?: Omit<MeteringOptions, 'handleSignals'>): Promise<Metering>;
  stopMetering(): Promise<void>;
  startQuota(): Promise<Quota>;
  stopQuota(): Promise<void>;
  backup: Backup | undefined;
  startBackup(options?: BackupOptions): Promise<Backup>;
  stopBackup(): Promise<void>;
  stop(): Promise<void>;
}

export interface StackOptions {
  /** Start the backup service (default: no). */
  backup?: boolean;
  gateway?: boolean;
  provisioner?: boolean;
  /** Start metering (default: no). */
  metering?: boolean;
  /** Start quota (default: no). */
  quota?: boolean;
  /** Extra environment, e.g. `{ LOGIN_MAX_FAILURES: '3' }`. */
  env?: Record<string, string>;
  /** Options of every gateway the stack starts (e.g. test routes in the tenant scope). */
  gatewayOptions?: Omit<NonNullable<Parameters<typeof startGateway>[1]>, 'handleSignals'>;
}

/**
 * A whole private deployment for one test file: its own nats-server (killable), its own
 * control-plane database, its own data-plane databases and Redis key prefix; services run
 * in-process on free ports. `stop()` removes all of it.
 */
export async function startStack(options: StackOptions = {}): Promise<TestStack> {
  const nats = await PrivateNatsServer.start();
  const db = await createTestDatabase();
  const server = new URL(TEST_POSTGRES_URL);
  const clusterUrl = (suffix: string) => {
    const u = new URL(server.toString());
    u.pathname = `/${db.name}_${suffix}`;
    return u.toString();
  };
  const clusterUrls = { 'us-east-1': clusterUrl('use1'), 'eu-west-1': clusterUrl('euw1') } as const;
  const redisPrefix = `ttm-test:${randomBytes(4).toString('hex')}:`;
  const env: Record<string, string> = {
    NATS_URL: nats.url,
    DATABASE_URL: db.url,
    REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
    REDIS_KEY_PREFIX: redisPrefix,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    PORT: '0',
    HOST: '127.0.0.1',
    PROVISIONER_PORT: '0',
    METERING_PORT: '0',
    QUOTA_PORT: '0',
    BACKUP_PORT: '0',
    SUPER_ADMIN_KEY: TEST_ADMIN_KEY,
    PROVISIONING_RETRY_DELAY: '20ms',
    WORKSPACE_WARM_POOL: '2',
    SHUTDOWN_TIMEOUT: '5s',
    // Every registration comes from 127.0.0.1: the per-address and total limits are tested on their own.
    REGISTRATION_MAX_PER_ADDRESS: '1000000',
    REGISTRATION_MAX_TOTAL: '1000000',
    REGIONS: JSON.stringify([
      { name: 'us-east-1', clusters: [{ name: 'use1-a', url: clusterUrls['us-east-1'], capacity: 1000 }] },
      { name: 'eu-west-1', clusters: [{ name: 'euw1-a', url: clusterUrls['eu-west-1'], capacity: 1000 }] },
    ]),
    ...options.env,
  };

  const logger = createLogger('test-stack', 'silent');
  const config = loadConfig(commonEnv, env);
  const link = await connectNats(nats.url, 'ttm-test-bootstrap', logger);
  await bootstrapTopology(link.nc, topologySettingsFrom(config), logger);
  await link.nc.close();

  const gatewayOptions = { ...options.gatewayOptions, handleSignals: false };
  const extraGateways: Gateway[] = [];
  const stack: TestStack = {
    env,
    nats,
    db,
    clusterUrls,
    gateway: undefined,
    provisioner: undefined,
    url: '',
    async startGateway() {
      stack.gateway = await startGateway(env, gatewayOptions);
      stack.url = stack.gateway.url;
      return stack.gateway;
    },
    async startExtraGateway(extraEnv = {}) {
      const gateway = await startGateway({ ...env, ...extraEnv }, gatewayOptions);
      extraGateways.push(gateway);
      return gateway;
    },
    async startProvisioner() {
      stack.provisioner = await startProvisioner(env, { handleSignals: false });
      return stack.provisioner;
    },
    async stopProvisioner() {
      await stack.provisioner?.stop();
      stack.provisioner = undefined;
    },
    metering: undefined,
    quota: undefined,
    async startMetering(meteringOptions = {}) {
      stack.metering = await startMetering(env, { ...meteringOptions, handleSignals: false });
      return stack.metering;
    },
    async stopMetering() {
      await stack.metering?.stop();
      stack.metering = undefined;
    },
    async startQuota() {
      stack.quota = await startQuota(env, { handleSignals: false });
      return stack.quota;
    },
    async stopQuota() {
      await stack.quota?.stop();
      stack.quota = undefined;
    },
    backup: undefined,
    async startBackup(backupOptions = {}) {
      stack.backup = await startBackup(env, { ...backupOptions, handleSignals: false });
      return stack.backup;
    },
    async stopBackup() {
      await stack.backup?.stop();
      stack.backup = undefined;
    },
    async stop() {
      await stack.backup?.stop().catch(() => undefined);
      await stack.metering?.stop().catch(() => undefined);
      await stack.quota?.stop().catch(() => undefined);
      for (const gateway of extraGateways) await gateway.stop().catch(() => undefined);
      await stack.gateway?.stop().catch(() => undefined);
      await stack.provisioner?.stop().catch(() => undefined);
      await nats.stop();
      await dropDatabases([`${db.name}_use1`, `${db.name}_euw1`], db.name);
      await db.drop();
      await deleteRedisKeys(env.REDIS_URL!, redisPrefix);
    },
  };
  if (options.provisioner !== false) await stack.startProvisioner();
  if (options.gateway !== false) await stack.startGateway();
  if (options.backup) await stack.startBackup();
  if (options.metering) await stack.startMetering();
  if (options.quota) await stack.startQuota();
  return stack;
}

/** Drop the data-plane databases, including dedicated ones named after the test database. */
async function dropDatabases(names: string[], prefix: string): Promise<void> {
  const admin = new pg.Client({ connectionString: TEST_POSTGRES_URL });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ datname: string }>(
      `SELECT datname FROM pg_database WHERE datname = ANY($1) OR datname LIKE $2`,
      [names, `${prefix}%`],
    );
    for (const { datname } of rows) {
      if (datname === prefix) continue;
      await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(datname)} WITH (FORCE)`);
    }
  } finally {
    await admin.end();
  }
}

async function deleteRedisKeys(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } catch {
    // Redis down at cleanup: the keys carry a random prefix and expire on their own.
  } finally {
    redis.disconnect();
  }
}

/** A started stack with a NATS client of the test's own, as most service tests use it. */
export interface ConnectedStack {
  stack: TestStack;
  nc: NatsConnection;
  js: JetStreamClient;
}

/** `startStack`, then a client connection to its NATS server. */
export async function startConnectedStack(options: StackOptions = {}): Promise<ConnectedStack> {
  const stack = await startStack(options);
  const nc = await connect({ servers: stack.nats.url });
  return { stack, nc, js: jetstream(nc) };
}

/** Close the client, then stop the stack; either may be missing when start-up failed. */
export async function stopConnectedStack(connected: { stack?: TestStack; nc?: NatsConnection }): Promise<void> {
  await connected.nc?.close();
  await connected.stack?.stop();
}

/** Poll until `check` returns a value (not undefined) or time runs out. */
export async function eventually<T>(
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`condition not met within ${timeoutMs} ms${last ? `: ${(last as Error).message}` : ''}`);
}
