/**
 * `npm run smoke`: the acceptance check of `npm start`.
 *
 * Starts `npm start`, waits until the six services answer /health/ready with 200,
 * asks `$SRV.PING` on NATS for the six `ttm-<service>` services, checks the
 * streams exist and records their configurations, stops the stack with SIGINT
 * (as a Ctrl-C would) and expects exit code 0; then starts it again, checks the
 * stream configurations are identical (the bootstrap is idempotent) and stops it.
 * Prints PASS/FAIL lines; exits 1 if any check failed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Services, Streams } from '@ttm/contracts';
import { address, backingServicesFromEnv, type Endpoint } from './stack/backingServices.js';
import { natsAuthDir, savedNatsPasswords } from './stack/natsCredentials.js';
import { probe } from './stack/probe.js';
import {
  dataRoot,
  eachLine,
  isRunning,
  runningStackPid,
  shown,
  signalProcess,
  waitForExit,
} from './stack/processes.js';
import { describeNotReady, portsInUse, ttmServicesFromEnv, waitUntilReady } from './stack/ttmServices.js';

const READY_TIMEOUT_MS = 60_000;
/** 15 s for the services, then the private instances. */
const STOP_TIMEOUT_MS = 45_000;

const results: { ok: boolean; text: string }[] = [];
function check(ok: boolean, text: string, detail?: string): boolean {
  results.push({ ok, text });
  console.log(`${ok ? 'PASS' : 'FAIL'} ${text}`);
  if (!ok && detail) console.log(detail.replace(/^/gm, '     '));
  return ok;
}

// ---------------------------------------------------------------- the stack as a child process

class Stack {
  private readonly tail: string[] = [];
  readonly exited: Promise<number | string>;

  private constructor(
    private readonly child: ChildProcess,
    readonly logFile: string,
  ) {
    const log = createWriteStream(logFile, { flags: 'w' });
    const keep = (line: string) => {
      log.write(`${line}\n`);
      this.tail.push(line);
      if (this.tail.length > 40) this.tail.shift();
    };
    eachLine(child.stdout, keep);
    eachLine(child.stderr, keep);
    this.exited = new Promise((resolve) => {
      child.once('error', () => resolve('spawn error'));
      child.once('close', (code, signal) => {
        log.end();
        resolve(code ?? signal ?? 'unknown');
      });
    });
  }

  /** `npm start` in a process group of its own, like a command typed in a terminal. */
  static start(run: number): Stack {
    const dir = join(dataRoot, 'smoke');
    mkdirSync(dir, { recursive: true });
    const child = spawn('npm', ['start'], {
      cwd: join(dataRoot, '..'),
      env: process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    return new Stack(child, join(dir, `run-${run}.log`));
  }

  get running(): boolean {
    return isRunning(this.child);
  }

  /**
   * SIGINT to the stack runner (scripts/start.ts, pid in .data/stack.pid), as a Ctrl-C does.
   * Not to the whole process group: the `sh -c` that npm runs scripts with (dash) answers a
   * SIGINT by exiting 130 once its child is done, which would hide the runner's exit code.
   */
  interrupt(): boolean {
    const pid = runningStackPid();
    if (pid === undefined) return false;
    signalProcess(pid, 'SIGINT');
    return true;
  }

  kill(): void {
    if (this.child.pid !== undefined) signalProcess(-this.child.pid, 'SIGKILL');
  }

  recentOutput(): string {
    return this.tail.map((line) => line.slice(0, 240)).join('\n');
  }

  waitForExit(ms: number): Promise<boolean> {
    return waitForExit(this.child, ms);
  }
}

// ---------------------------------------------------------------- NATS checks

const natsServers = (process.env.NATS_URL || 'nats://127.0.0.1:4222').split(',').map((s) => s.trim());

async function pingServices(nc: NatsConnection, run: number): Promise<void> {
  const expected = Services.map((name) => `ttm-${name}`);
  const seen = new Map<string, number>();
  try {
    const replies = await nc.requestMany('$SRV.PING', undefined, { strategy: 'timer', maxWait: 2_000 });
    for await (const reply of replies) {
      try {
        const name = (reply.json() as { name?: string }).name;
        if (name) seen.set(name, (seen.get(name) ?? 0) + 1);
      } catch {
        // not a service discovery answer
      }
    }
  } catch (error) {
    check(false, `run ${run}: $SRV.PING answered`, error instanceof Error ? error.message : String(error));
    return;
  }
  const missing = expected.filter((name) => !seen.has(name));
  const answered = [...seen].map(([name, n]) => (n > 1 ? `${name} x${n}` : name)).join(', ');
  check(
    missing.length === 0,
    `run ${run}: $SRV.PING answered by ${expected.length - missing.length} of ${expected.length} ttm services`,
    `missing: ${missing.join(', ') || 'none'}; answers: ${answered || 'none'}`,
  );
}

/** Stream name -> its configuration, keys sorted, so two runs compare as text. */
async function streamConfigs(nc: NatsConnection, run: number): Promise<Map<string, string>> {
  const jsm = await jetstreamManager(nc);
  const configs = new Map<string, string>();
  for (const name of Object.values(Streams)) {
    try {
      const info = await jsm.streams.info(name);
      configs.set(name, canonical(info.config));
      check(
        true,
        `run ${run}: stream ${name} exists (subjects ${info.config.subjects?.join(' ')}, ${info.config.retention})`,
      );
    } catch (error) {
      check(false, `run ${run}: stream ${name} exists`, error instanceof Error ? error.message : String(error));
    }
  }
  return configs;
}

function canonical(value: unknown): string {
  const sort = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sort);
    if (v && typeof v === 'object') {
      return Object.fromEntries(
        Object.entries(v as Record<string, unknown>)
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([k, x]) => [k, sort(x)]),
      );
    }
    return v;
  };
  return JSON.stringify(sort(value));
}

function differences(a: string, b: string): string {
  const left = JSON.parse(a) as Record<string, unknown>;
  const right = JSON.parse(b) as Record<string, unknown>;
  const keys = [...new Set([...Object.keys(left), ...Object.keys(right)])];
  return keys
    .filter((k) => JSON.stringify(left[k]) !== JSON.stringify(right[k]))
    .map((k) => `${k}: ${JSON.stringify(left[k])} -> ${JSON.stringify(right[k])}`)
    .join('; ');
}

// ---------------------------------------------------------------- one run

const services = ttmServicesFromEnv();
const backing = backingServicesFromEnv();
let current: Stack | undefined;

/** Start the stack, run the checks while it is up, stop it. Returns the stream configurations. */
async function runOnce(run: number, privateEndpoints: { label: string; endpoint: Endpoint }[]) {
  const stack = Stack.start(run);
  current = stack;
  console.log(`smoke: run ${run}: npm start (output in ${shown(stack.logFile)})`);

  const exitedEarly = new AbortController();
  void stack.exited.then(() => exitedEarly.abort());
  const report = await waitUntilReady(services, READY_TIMEOUT_MS, exitedEarly.signal);
  let configs = new Map<string, string>();
  const ready = check(
    report.ready,
    `run ${run}: all ${services.length} services answer /health/ready 200 (${(report.elapsedMs / 1000).toFixed(1)} s)`,
    stack.running
      ? `not ready: ${describeNotReady(report)}\n${stack.recentOutput()}`
      : `npm start exited with ${await stack.exited} first:\n${stack.recentOutput()}`,
  );

  if (ready) {
    let nc: NatsConnection | undefined;
    try {
      // A private NATS started by `npm start` is locked down: connect as its admin.
      const admin = process.env.NATS_USER ? undefined : savedNatsPasswords(natsAuthDir(dataRoot))?.admin;
      nc = await connect({
        servers: natsServers,
        name: 'ttm-smoke',
        timeout: 5_000,
        ...(process.env.NATS_USER ? { user: process.env.NATS_USER, pass: process.env.NATS_PASSWORD ?? '' } : {}),
        ...(admin ? { user: 'admin', pass: admin } : {}),
      });
      await pingServices(nc, run);
      configs = await streamConfigs(nc, run);
    } catch (error) {
      check(
        false,
        `run ${run}: NATS at ${natsServers.join(',')}`,
        error instanceof Error ? error.message : String(error),
      );
    } finally {
      await nc?.close();
    }
  }

  if (stack.running) {
    const started = Date.now();
    if (!stack.interrupt()) check(false, `run ${run}: .data/stack.pid names the running stack`);
    const stopped = await stack.waitForExit(STOP_TIMEOUT_MS);
    if (!stopped) stack.kill();
    const code = await stack.exited;
    check(
      stopped && code === 0,
      `run ${run}: SIGINT stops the stack with exit code 0 (${stopped ? `exit ${code}` : 'still running, killed'} in ${((Date.now() - started) / 1000).toFixed(1)} s)`,
      stack.recentOutput(),
    );
  }
  current = undefined;

  const busy = await portsInUse(services);
  check(
    busy.length === 0,
    `run ${run}: service ports released`,
    `still in use: ${busy.map((s) => `${s.name} ${s.port}`).join(', ')}`,
  );
  for (const { label, endpoint } of privateEndpoints) {
    const state = (await probe({ ...backing.find((b) => b.label === label)!, endpoints: [endpoint] })).state;
    check(state === 'down', `run ${run}: the private ${label} on ${address(endpoint)} is stopped`, `it is ${state}`);
  }
  return configs;
}

async function main(): Promise<number> {
  // Backing services down before the run are started privately by npm start, and must be gone after it.
  const privateEndpoints: { label: string; endpoint: Endpoint }[] = [];
  for (const service of backing) {
    const result = await probe(service);
    if (result.state === 'down') privateEndpoints.push({ label: service.label, endpoint: service.endpoints[0]! });
  }
  const busy = await portsInUse(services);
  if (busy.length > 0) {
    check(false, 'service ports are free before the run', busy.map((s) => `${s.name} ${s.port}`).join(', '));
    return 1;
  }

  const first = await runOnce(1, privateEndpoints);
  if (first.size > 0) {
    const second = await runOnce(2, privateEndpoints);
    if (second.size > 0) {
      const changed = [...first].filter(([name, config]) => second.get(name) !== config).map(([name]) => name);
      check(
        changed.length === 0 && second.size === first.size,
        `stream configurations identical after a restart (${first.size} streams)`,
        changed.map((name) => `${name}: ${differences(first.get(name)!, second.get(name) ?? '{}')}`).join('\n'),
      );
    }
  }

  const failed = results.filter((r) => !r.ok).length;
  console.log(
    failed === 0
      ? `smoke: PASS (${results.length} checks)`
      : `smoke: FAIL (${failed} of ${results.length} checks failed)`,
  );
  return failed === 0 ? 0 : 1;
}

let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = true;
    console.log(`smoke: ${signal}: stopping the stack`);
    const stack = current;
    if (!stack) process.exit(130);
    if (!stack.interrupt()) stack.kill();
    void stack.waitForExit(STOP_TIMEOUT_MS).then((stopped) => {
      if (!stopped) stack.kill();
      process.exit(130);
    });
  });
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    current?.interrupt();
    process.exit(1);
  },
);
