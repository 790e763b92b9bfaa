import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import {
  bootstrapTopology,
  commonEnv,
  connectNats,
  createLogger,
  loadConfig,
  topologySettingsFrom,
} from '@ttm/service-kit';
import {
  createTestDatabase,
  freePort,
  PrivateNatsServer,
  TEST_POSTGRES_URL,
  type TestDatabase,
} from '@ttm/service-kit/testing';
import pg from 'pg';
import { waitReady } from './polling.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

export const BENCH_ADMIN_KEY = 'bench-admin-key-0123456789';

export interface ProcessStack {
  env: Record<string, string>;
  /** Process id of each service, for CPU accounting. */
  pids: Record<string, number>;
  gatewayUrl: string;
  nats: PrivateNatsServer;
  db: TestDatabase;
  /** Stop one service (SIGTERM, SIGKILL after 15 s); the others keep running. */
  stopService(service: string): Promise<void>;
  /** Start a stopped service again; resolves once its readiness answers 200. */
  startService(service: string): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A private deployment for one benchmark: its own nats-server and databases, the
 * services as separate processes started exactly as `npm start` starts them.
 */
export async function startProcessStack(
  services: string[],
  extraEnv: Record<string, string> = {},
): Promise<ProcessStack> {
  const nats = await PrivateNatsServer.start();
  const db = await createTestDatabase('ttm_bench');
  const cluster = (suffix: string) => {
    const u = new URL(TEST_POSTGRES_URL);
    u.pathname = `/${db.name}_${suffix}`;
    return u.toString();
  };
  const ports: Record<string, number> = {};
  for (const s of ['gateway', 'provisioner', 'metering', 'quota', 'backup', 'webhooks']) ports[s] = await freePort();
  const env: Record<string, string> = {
    NATS_URL: nats.url,
    DATABASE_URL: db.url,
    REDIS_URL: 'redis://127.0.0.1:6379',
    REDIS_KEY_PREFIX: `ttm-bench:${randomBytes(4).toString('hex')}:`,
    LOG_LEVEL: 'warn',
    HOST: '127.0.0.1',
    PORT: String(ports.gateway),
    PROVISIONER_PORT: String(ports.provisioner),
    METERING_PORT: String(ports.metering),
    QUOTA_PORT: String(ports.quota),
    BACKUP_PORT: String(ports.backup),
    WEBHOOKS_PORT: String(ports.webhooks),
    SUPER_ADMIN_KEY: BENCH_ADMIN_KEY,
    // Every registration comes from 127.0.0.1: the per-address and total limits are tested on their own.
    REGISTRATION_MAX_PER_ADDRESS: '1000000',
    REGISTRATION_MAX_TOTAL: '1000000',
    REGIONS: JSON.stringify([
      { name: 'us-east-1', clusters: [{ name: 'use1-a', url: cluster('use1'), capacity: 100_000 }] },
      { name: 'eu-west-1', clusters: [{ name: 'euw1-a', url: cluster('euw1'), capacity: 100_000 }] },
    ]),
    ...extraEnv,
  };
  const logger = createLogger('bench', 'silent');
  const link = await connectNats(nats.url, 'ttm-bench-bootstrap', logger);
  await bootstrapTopology(link.nc, topologySettingsFrom(loadConfig(commonEnv, env)), logger);
  await link.nc.close();

  // `node --import tsx` as npm start runs them: one process per service (no tsx parent).
  // BENCH_CPU_PROF=gateway,provisioner writes a V8 CPU profile of those services when they stop
  // (into BENCH_CPU_PROF_DIR, bench/results/profiles by default; open it in Chrome DevTools).
  const profiled = new Set((process.env.BENCH_CPU_PROF ?? '').split(',').filter(Boolean));
  const profileDir = process.env.BENCH_CPU_PROF_DIR ?? `${root}bench/results/profiles`;
  const spawnService = (service: string) =>
    spawn(
      process.execPath,
      [
        ...(profiled.has(service)
          ? ['--cpu-prof', '--cpu-prof-dir', profileDir, '--cpu-prof-name', `${service}.${Date.now()}.cpuprofile`]
          : []),
        '--import',
        'tsx',
        `${root}services/${service}/src/main.ts`,
      ],
      {
        cwd: root,
        env: { ...process.env, ...env },
        stdio: ['ignore', 'ignore', 'inherit'],
      },
    );
  const children = new Map<string, ChildProcess>(services.map((service) => [service, spawnService(service)]));
  const stopChild = (child: ChildProcess) =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 15_000).unref();
    });
  const readyUrl = (service: string) => `http://127.0.0.1:${ports[service]}/health/ready`;
  const stop = async () => {
    await Promise.all([...children.values()].map(stopChild));
    await nats.stop();
    const admin = new pg.Client({ connectionString: TEST_POSTGRES_URL });
    await admin.connect();
    try {
      const { rows } = await admin.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname LIKE $1', [
        `${db.name}_%`,
      ]);
      for (const { datname } of rows)
        await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(datname)} WITH (FORCE)`);
    } finally {
      await admin.end();
    }
    await db.drop();
  };
  // A loaded machine can take a while to start them; one that never gets ready leaves nothing behind.
  const readyTimeoutMs = Number(process.env.BENCH_READY_TIMEOUT_MS ?? 180_000);
  try {
    await Promise.all(services.map((s) => waitReady(readyUrl(s), readyTimeoutMs)));
  } catch (error) {
    await stop();
    throw error;
  }
  const pids = Object.fromEntries(services.map((s) => [s, children.get(s)?.pid ?? 0]));
  return {
    env,
    pids,
    gatewayUrl: `http://127.0.0.1:${ports.gateway}`,
    nats,
    db,
    async stopService(service) {
      const child = children.get(service);
      if (child) await stopChild(child);
    },
    async startService(service) {
      const child = spawnService(service);
      children.set(service, child);
      pids[service] = child.pid ?? 0;
      await waitReady(readyUrl(service), readyTimeoutMs);
    },
    stop,
  };
}
