import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';

/**
 * A private nats-server with JetStream on a free port and its own store directory,
 * so a test can kill and restart it without touching anyone else's.
 */
export class PrivateNatsServer {
  private child: ChildProcess | undefined;

  private constructor(
    readonly port: number,
    readonly storeDir: string,
    private readonly configFile?: string,
  ) {}

  /** Process id while running (for CPU accounting in benchmarks). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** `config`: nats-server configuration text (e.g. an `authorization` block); port and store come from here. */
  static async start(options: { config?: string } = {}): Promise<PrivateNatsServer> {
    const port = await freePort();
    const storeDir = await mkdtemp(join(tmpdir(), 'ttm-nats-'));
    let configFile: string | undefined;
    if (options.config !== undefined) {
      configFile = join(storeDir, 'nats-server.conf');
      await writeFile(configFile, options.config, { mode: 0o600 });
    }
    const server = new PrivateNatsServer(port, storeDir, configFile);
    await server.restart();
    return server;
  }

  /** Start (again) on the same port and store: JetStream state survives. */
  async restart(): Promise<void> {
    if (this.child) return;
    const bin = process.env.NATS_SERVER_BIN ?? 'nats-server';
    const config = this.configFile ? ['-c', this.configFile] : [];
    const child = spawn(bin, [...config, '-a', '127.0.0.1', '-p', String(this.port), '-js', '-sd', this.storeDir], {
      stdio: 'ignore',
    });
    this.child = child;
    child.once('exit', () => {
      if (this.child === child) this.child = undefined;
    });
    await waitForPort(this.port, 10_000);
  }

  /** Kill the server abruptly (SIGKILL), as a crash would. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  async stop(): Promise<void> {
    await this.kill();
    await rm(this.storeDir, { recursive: true, force: true });
  }
}

export async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
}
