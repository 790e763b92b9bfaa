import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, waitForPort } from '@ttm/service-kit/testing';

/**
 * Backing services of the fault campaign, each a private process on free loopback ports with its
 * own files in a temporary directory, so the campaign can kill and restart them without touching
 * the machine's shared PostgreSQL, Redis or NATS.
 */

const run = promisify(execFile);

/** Wait until `check` is true, polling; throws with `what` after `timeoutMs`. */
export async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what}: not within ${timeoutMs / 1000} s${last ? ` (${String(last)})` : ''}`);
}

async function killAndWait(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

// ---------------------------------------------------------------- NATS: three nodes, one cluster

interface NatsNode {
  name: string;
  port: number;
  clusterPort: number;
  monitorPort: number;
  storeDir: string;
  child?: ChildProcess;
}

/** Three nats-server processes with JetStream, routed to each other as one cluster. */
export class NatsCluster {
  private constructor(
    readonly nodes: NatsNode[],
    private readonly dir: string,
  ) {}

  static async start(size = 3): Promise<NatsCluster> {
    const dir = await mkdtemp(join(tmpdir(), 'ttm-nats-cluster-'));
    const nodes: NatsNode[] = [];
    for (let i = 0; i < size; i++) {
      nodes.push({
        name: `ttm-fault-${i + 1}`,
        port: await freePort(),
        clusterPort: await freePort(),
        monitorPort: await freePort(),
        storeDir: join(dir, `n${i + 1}`),
      });
    }
    const cluster = new NatsCluster(nodes, dir);
    for (let i = 0; i < size; i++) cluster.spawn(i);
    await cluster.untilHealthy();
    return cluster;
  }

  /** Client URLs of every node, comma separated (NATS_URL). */
  get url(): string {
    return this.nodes.map((n) => `nats://127.0.0.1:${n.port}`).join(',');
  }

  private spawn(i: number): void {
    const node = this.nodes[i]!;
    const routes = this.nodes
      .filter((_, j) => j !== i)
      .map((n) => `nats://127.0.0.1:${n.clusterPort}`)
      .join(',');
    const bin = process.env.NATS_SERVER_BIN ?? 'nats-server';
    // The cluster block as a config file: 2.9 takes --cluster and --routes on the command line too,
    // but the name of the cluster must be the same on every node for JetStream to form.
    node.child = spawn(
      bin,
      [
        '-a',
        '127.0.0.1',
        '-p',
        String(node.port),
        '-n',
        node.name,
        '-js',
        '-sd',
        node.storeDir,
        '-m',
        String(node.monitorPort),
        '--cluster_name',
        'ttm-faults',
        '--cluster',
        `nats://127.0.0.1:${node.clusterPort}`,
        '--routes',
        routes,
      ],
      { stdio: 'ignore' },
    );
  }

  /** Every running node answers /healthz with 200 (JetStream current: meta leader and assets in sync). */
  async untilHealthy(timeoutMs = 90_000): Promise<void> {
    for (const node of this.nodes.filter((n) => n.child && n.child.exitCode === null)) {
      await waitForPort(node.port, timeoutMs);
      await until(
        `NATS node ${node.name} healthy`,
        async () => (await fetch(`http://127.0.0.1:${node.monitorPort}/healthz`)).status === 200,
        timeoutMs,
      );
    }
  }

  /** How many connections named `ttm-<service>` each node holds now (its /connz). */
  async serviceConnections(): Promise<number[]> {
    return Promise.all(
      this.nodes.map(async (node) => {
        if (!node.child || node.child.exitCode !== null) return 0;
        const body = (await (await fetch(`http://127.0.0.1:${node.monitorPort}/connz?limit=1024`)).json()) as {
          connections?: { name?: string }[];
        };
        return (body.connections ?? []).filter((c) =>
          /^ttm-(gateway|provisioner|metering|quota|backup|webhooks)$/.test(c.name ?? ''),
        ).length;
      }),
    );
  }

  /** SIGKILL node `i`, as a crash would. */
  async kill(i: number): Promise<void> {
    const node = this.nodes[i]!;
    await killAndWait(node.child);
    node.child = undefined;
  }

  /** Start node `i` again on its ports and store, and wait until the cluster is healthy. */
  async restart(i: number): Promise<void> {
    this.spawn(i);
    await this.untilHealthy();
  }

  async stop(): Promise<void> {
    for (const node of this.nodes) await killAndWait(node.child);
    await rm(this.dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- Redis

export class PrivateRedis {
  private child: ChildProcess | undefined;

  private constructor(readonly port: number) {}

  static async start(): Promise<PrivateRedis> {
    const redis = new PrivateRedis(await freePort());
    await redis.restart();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async restart(): Promise<void> {
    this.child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'],
      { stdio: 'ignore' },
    );
    await waitForPort(this.port, 30_000);
  }

  async kill(): Promise<void> {
    await killAndWait(this.child);
    this.child = undefined;
  }

  stop(): Promise<void> {
    return this.kill();
  }
}

// ---------------------------------------------------------------- PostgreSQL

function postgresBin(name: string): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) {
    const path = join(root, v, 'bin', name);
    if (existsSync(path)) return path;
  }
  return name;
}

/**
 * A PostgreSQL cluster of its own (initdb into a temporary directory, pg_ctl on a free port),
 * trust auth for `postgres` on 127.0.0.1. As root, the server runs as the `postgres` user.
 */
export class PrivatePostgres {
  private constructor(
    readonly port: number,
    private readonly dir: string,
  ) {}

  static async start(): Promise<PrivatePostgres> {
    const dir = await mkdtemp(join(tmpdir(), 'ttm-pg-'));
    const server = new PrivatePostgres(await freePort(), dir);
    mkdirSync(server.dataDir);
    if (process.getuid?.() === 0) {
      const { stdout } = await run('id', ['-u', 'postgres']);
      const { stdout: gid } = await run('id', ['-g', 'postgres']);
      chownSync(dir, Number(stdout.trim()), Number(gid.trim()));
      chownSync(server.dataDir, Number(stdout.trim()), Number(gid.trim()));
    }
    await server.asOwner(postgresBin('initdb'), [
      '-D',
      server.dataDir,
      '-U',
      'postgres',
      '-A',
      'trust',
      '--no-sync',
      '-E',
      'UTF8',
    ]);
    await server.startServer();
    return server;
  }

  private get dataDir(): string {
    return join(this.dir, 'data');
  }

  url(database: string): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  private async asOwner(bin: string, args: string[]): Promise<void> {
    if (process.getuid?.() === 0) await run('runuser', ['-u', 'postgres', '--', bin, ...args]);
    else await run(bin, args);
  }

  private async startServer(): Promise<void> {
    const options = [
      `-p ${this.port}`,
      "-c listen_addresses='127.0.0.1'",
      `-c unix_socket_directories='${this.dir}'`,
      '-c max_connections=300',
      '-c fsync=off',
      '-c full_page_writes=off',
    ].join(' ');
    await this.asOwner(postgresBin('pg_ctl'), [
      '-D',
      this.dataDir,
      '-o',
      options,
      '-l',
      join(this.dir, 'log'),
      '-w',
      '-t',
      '120',
      'start',
    ]);
  }

  /** Stop at once, as a crash would (`-m immediate`: no checkpoint, crash recovery at the next start). */
  async crash(): Promise<void> {
    await this.asOwner(postgresBin('pg_ctl'), ['-D', this.dataDir, '-m', 'immediate', '-w', 'stop']);
  }

  async restart(): Promise<void> {
    await this.startServer();
  }

  async stop(): Promise<void> {
    await this.crash().catch(() => undefined);
    await rm(this.dir, { recursive: true, force: true });
  }
}
