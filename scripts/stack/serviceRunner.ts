/**
 * Runs the six services side by side with concurrently's programmatic API:
 * output prefixed with the service name, colored, and the others stopped when
 * one fails.
 *
 * Each service runs as `node --import tsx services/<name>/src/main.ts` (the
 * same loader as the `tsx` command, without its signal-relaying parent
 * process) in a process group of its own: a Ctrl-C in the terminal reaches
 * only the stack runner, which then sends every service exactly one SIGTERM.
 * That matters: a service treats a second signal as "exit now" (exit code 1).
 */
import { spawn } from 'node:child_process';
import {
  type CloseEvent,
  Command,
  createConcurrently,
  KillOthers,
  LogError,
  LogExit,
  Logger,
  LogOutput,
} from 'concurrently';
import { repoRoot, signalProcess, toolPath } from './processes.js';
import type { TtmService } from './ttmServices.js';

/** How long a service may take to stop after SIGTERM before it is killed. */
export const STOP_GRACE_MS = 15_000;

const prefixColors = ['cyan', 'magenta', 'green', 'yellow', 'blue'];

export interface ServiceExit {
  name: string;
  /** Exit code, or the name of the signal that ended it. */
  exitCode: number | string;
}

export interface ServiceRun {
  /** Resolves once every service has exited. */
  finished: Promise<ServiceExit[]>;
  /** SIGTERM every service, SIGKILL what still runs after STOP_GRACE_MS; resolves when all exited. */
  stop(): Promise<ServiceExit[]>;
  /** SIGKILL every service (and anything it started) now. */
  kill(): void;
}

export function runServices(services: TtmService[], env: NodeJS.ProcessEnv): ServiceRun {
  const logger = new Logger({ prefixFormat: 'name' });
  logger.setPrefixLength(Math.max(...services.map((s) => s.name.length)));

  // Each process gets at most one SIGTERM, whoever asks (our stop(), KillOthers); SIGKILL always goes
  // to the whole process group, so whatever a service spawned goes with it.
  const terminated = new Set<number>();
  const kill = (pid: number, signal?: string) => {
    const sig = (signal ?? 'SIGTERM') as NodeJS.Signals;
    if (sig === 'SIGKILL') return signalProcess(-pid, 'SIGKILL');
    if (sig === 'SIGTERM' || sig === 'SIGINT') {
      if (terminated.has(pid)) return;
      terminated.add(pid);
    }
    signalProcess(pid, sig);
  };

  const { commands, result } = createConcurrently(
    services.map((service, index) => ({
      name: service.name,
      command: `node --import tsx ${service.main}`,
      prefixColor: prefixColors[index % prefixColors.length],
      env: { ...env, PATH: toolPath(env) },
    })),
    {
      cwd: repoRoot,
      logger,
      outputStream: process.stdout,
      // `exec`, so the shell is replaced and the pid is the service's own.
      spawn: (command, options) => spawn('/bin/sh', ['-c', `exec ${command}`], { ...options, detached: true }),
      kill,
      controllers: [
        new LogError({ logger }),
        new LogOutput({ logger }),
        new LogExit({ logger }),
        new KillOthers({ logger, conditions: ['failure'], killSignal: 'SIGTERM', timeoutMs: STOP_GRACE_MS }),
      ],
    },
  );

  const toExits = (events: CloseEvent[]) =>
    events.map((event) => ({ name: event.command.name, exitCode: event.exitCode }));
  const finished = result.then(toExits, (events: CloseEvent[]) => toExits(events));

  const running = () => commands.filter((command) => Command.canKill(command));

  // If this process dies without stopping them, do not leave services behind.
  const onExit = () => {
    for (const command of running()) if (command.pid) signalProcess(-command.pid, 'SIGKILL');
  };
  process.on('exit', onExit);
  void finished.then(() => process.off('exit', onExit));

  return {
    finished,
    async stop() {
      for (const command of running()) command.kill('SIGTERM');
      const timer = setTimeout(() => {
        for (const command of running()) {
          logger.logGlobalEvent(`${command.name} did not stop within ${STOP_GRACE_MS / 1000} s: killing it`);
          command.kill('SIGKILL');
        }
      }, STOP_GRACE_MS);
      try {
        return await finished;
      } finally {
        clearTimeout(timer);
      }
    },
    kill() {
      for (const command of running()) command.kill('SIGKILL');
    },
  };
}
