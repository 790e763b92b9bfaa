/**
 * Runs the services of `npm start` and keeps them running: a process that exits without being
 * asked is restarted with capped exponential backoff (restartPolicy.ts), logged and counted in
 * `supervisor_restarts_total{service}` (served with the supervisor's other metrics on
 * SUPERVISOR_PORT); one that crash-loops past the policy's limit stops the whole stack, which
 * then says which and why.
 *
 * Each service runs as `node --import tsx services/<name>/src/main.ts` (the same loader as the
 * `tsx` command, without its signal-relaying parent process) in a process group of its own: a
 * Ctrl-C in the terminal reaches only the stack runner, which then sends every service exactly
 * one SIGTERM (a service treats a second signal as "exit now"). Its output lines are prefixed
 * with its label (`gateway`, `gateway#2`).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Registry } from 'prom-client';
import type { ServiceInstance } from './instances.js';
import { eachLine, repoRoot, signalProcess, toolPath } from './processes.js';
import { afterUnexpectedExit, defaultRestartPolicy, freshHistory, type RestartPolicy } from './restartPolicy.js';

/** How long a service may take to stop after SIGTERM before it is killed. */
export const STOP_GRACE_MS = 15_000;

export interface ServiceExit {
  name: string;
  /** Exit code, or the name of the signal that ended it. */
  exitCode: number | string;
}

export interface SupervisionEnd {
  /** How each process ended when the stack stopped. */
  exits: ServiceExit[];
  /** Set when a crash loop stopped the stack: which service and why, one line. */
  crashLoop?: string;
}

export interface Supervision {
  /** Resolves once the stack stopped (stop() or a crash loop) and every process exited. */
  finished: Promise<SupervisionEnd>;
  /** SIGTERM every service, SIGKILL what still runs after STOP_GRACE_MS; resolves when all exited. */
  stop(): Promise<SupervisionEnd>;
  /** SIGKILL every service (and anything it started) now. */
  kill(): void;
  /** The supervisor's metrics (Prometheus registry). */
  metrics: Registry;
}

export interface SupervisorOptions {
  policy?: RestartPolicy;
  say: (line: string) => void;
}

interface Supervised {
  instance: ServiceInstance;
  child?: ChildProcess;
  startedAt: number;
  history: ReturnType<typeof freshHistory>;
  restartTimer?: NodeJS.Timeout;
  lastExit?: number | string;
  terminated: boolean;
}

const describeExit = (code: number | null, signal: NodeJS.Signals | null) =>
  signal ? signal : `exit code ${code ?? '?'}`;

export function supervise(
  instances: ServiceInstance[],
  env: NodeJS.ProcessEnv,
  options: SupervisorOptions,
): Supervision {
  const policy = options.policy ?? defaultRestartPolicy;
  const { say } = options;
  const width = Math.max(...instances.map((i) => i.label.length));

  const metrics = new Registry();
  const restarts = new Counter({
    name: 'supervisor_restarts_total',
    help: 'Services npm start restarted after they exited unexpectedly, by service',
    labelNames: ['service'],
    registers: [metrics],
  });
  const up = new Gauge({
    name: 'supervisor_processes_running',
    help: 'Service processes running under npm start, by service',
    labelNames: ['service'],
    registers: [metrics],
  });
  for (const instance of instances) {
    restarts.inc({ service: instance.name }, 0);
    up.set({ service: instance.name }, 0);
  }

  let stopping = false;
  let crashLoop: string | undefined;
  let resolveFinished!: (end: SupervisionEnd) => void;
  const finished = new Promise<SupervisionEnd>((resolve) => {
    resolveFinished = resolve;
  });
  const all: Supervised[] = instances.map((instance) => ({
    instance,
    startedAt: 0,
    history: freshHistory(),
    terminated: false,
  }));

  const running = () => all.filter((s) => s.child && s.child.exitCode === null && s.child.signalCode === null);

  const settleIfDone = () => {
    if (!stopping || running().length > 0) return;
    resolveFinished({
      exits: all.map((s) => ({ name: s.instance.label, exitCode: s.lastExit ?? 0 })),
      ...(crashLoop ? { crashLoop } : {}),
    });
  };

  const start = (s: Supervised) => {
    s.restartTimer = undefined;
    if (stopping) return;
    const prefix = `[${s.instance.label.padEnd(width)}]`;
    const child = spawn(process.execPath, [...(s.instance.nodeArgs ?? []), '--import', 'tsx', s.instance.main], {
      cwd: repoRoot,
      env: { ...env, ...s.instance.env, PATH: toolPath(env) },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    s.child = child;
    s.startedAt = Date.now();
    s.terminated = false;
    up.inc({ service: s.instance.name });
    eachLine(child.stdout, (line) => process.stdout.write(`${prefix} ${line}\n`));
    eachLine(child.stderr, (line) => process.stderr.write(`${prefix} ${line}\n`));
    child.once('error', (error) => say(`${s.instance.label} could not start: ${error.message}`));
    child.once('exit', (code, signal) => {
      up.dec({ service: s.instance.name });
      s.lastExit = signal ?? code ?? 1;
      if (stopping) {
        say(`${s.instance.label} stopped (${describeExit(code, signal)})`);
        settleIfDone();
        return;
      }
      const decision = afterUnexpectedExit(s.history, s.startedAt, Date.now(), policy);
      s.history = decision.history;
      if (decision.action === 'give-up') {
        crashLoop =
          `${s.instance.label} crash-loops: it exited (${describeExit(code, signal)}) again after ` +
          `${decision.restartsInWindow} restarts within ${policy.windowMs / 1000} s; see its output above`;
        say(`${crashLoop}: stopping the stack`);
        void stop();
        return;
      }
      restarts.inc({ service: s.instance.name });
      say(
        `${s.instance.label} exited unexpectedly (${describeExit(code, signal)}): restarting it in ` +
          `${(decision.delayMs / 1000).toFixed(1)} s (restart ${decision.attempt}); the others keep serving`,
      );
      s.restartTimer = setTimeout(() => start(s), decision.delayMs);
    });
  };

  const terminate = (s: Supervised) => {
    if (s.terminated || !s.child?.pid) return;
    s.terminated = true;
    signalProcess(s.child.pid, 'SIGTERM');
  };

  const killAll = () => {
    for (const s of running()) if (s.child?.pid) signalProcess(-s.child.pid, 'SIGKILL');
  };

  async function stop(): Promise<SupervisionEnd> {
    if (!stopping) {
      stopping = true;
      for (const s of all) {
        if (s.restartTimer) clearTimeout(s.restartTimer);
        s.restartTimer = undefined;
        terminate(s);
      }
      const timer = setTimeout(() => {
        for (const s of running()) say(`${s.instance.label} did not stop within ${STOP_GRACE_MS / 1000} s: killing it`);
        killAll();
      }, STOP_GRACE_MS);
      void finished.then(() => clearTimeout(timer));
      settleIfDone();
    }
    return finished;
  }

  // If this process dies without stopping them, do not leave services behind.
  process.on('exit', killAll);
  void finished.then(() => process.off('exit', killAll));

  for (const s of all) start(s);
  return { finished, stop, kill: killAll, metrics };
}

/** Serve the supervisor's /metrics (and a trivial /health/live) on 127.0.0.1:`port`. */
export async function serveSupervisorMetrics(metrics: Registry, port: number, host = '127.0.0.1'): Promise<Server> {
  const server = createServer((request, response) => {
    if (request.url === '/metrics') {
      metrics.metrics().then(
        (body) => response.writeHead(200, { 'content-type': metrics.contentType }).end(body),
        () => response.writeHead(500).end(),
      );
      return;
    }
    if (request.url === '/health/live') {
      response.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"live","service":"supervisor"}');
      return;
    }
    response.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host, exclusive: true }, () => resolve());
  });
  return server;
}
