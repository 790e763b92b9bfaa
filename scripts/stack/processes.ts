/** Small process helpers shared by the stack runner and the smoke check. */
import type { ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { delimiter, dirname, join, relative, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';

/** The repository root (this file lives in scripts/stack/). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Where private instances keep their data and logs (ignored by git and biome). */
export const dataRoot = join(repoRoot, '.data');

/** Holds the pid of a running `npm start` (scripts/start.ts); `kill -INT $(cat .data/stack.pid)` stops it. */
export const stackPidFile = join(dataRoot, 'stack.pid');

/** The pid of a live stack runner recorded in .data/stack.pid, if any. */
export function runningStackPid(): number | undefined {
  try {
    const pid = Number(readFileSync(stackPidFile, 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes('scripts/start.ts') ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** A path as the user should read it: relative to the repository when inside it. */
export function shown(path: string): string {
  const rel = relative(repoRoot, path);
  return rel.startsWith('..') ? path : rel;
}

/** The first executable called `name` on PATH, or undefined. */
export function findOnPath(name: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** PATH with the repository's node_modules/.bin and this Node's directory in front. */
export function toolPath(env: NodeJS.ProcessEnv = process.env): string {
  return [join(repoRoot, 'node_modules', '.bin'), dirname(process.execPath), env.PATH ?? ''].join(delimiter);
}

/** The tsx command line runner of the repository. */
export function tsxBin(): string {
  const local = join(repoRoot, 'node_modules', '.bin', 'tsx');
  return existsSync(local) ? local : 'tsx';
}

export function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** Resolves true once `child` has exited, false if it is still running after `ms`. */
export function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (!isRunning(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolve(false);
    }, ms);
    const onExit = () => {
      clearTimeout(timer);
      resolve(true);
    };
    child.once('exit', onExit);
  });
}

/** Send `signal` to a process (or, with a negative pid, its group), ignoring "no such process". */
export function signalProcess(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(pid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/** Stop a child politely, then firmly: `signal`, wait `graceMs`, then SIGKILL its process group. */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals, graceMs: number): Promise<void> {
  if (!isRunning(child)) return;
  signalProcess(child.pid, signal);
  if (await waitForExit(child, graceMs)) return;
  if (child.pid !== undefined) signalProcess(-child.pid, 'SIGKILL');
  signalProcess(child.pid, 'SIGKILL');
  await waitForExit(child, 5_000);
}

/** The last `count` non-empty lines of a text file ('' when it does not exist). */
export function tailOf(path: string, count: number): string {
  try {
    const lines = readFileSync(path, 'utf8')
      .split('\n')
      .filter((line) => line.trim() !== '');
    return lines.slice(-count).join('\n');
  } catch {
    return '';
  }
}

/** Call `onLine` for every complete line of a stream. */
export function eachLine(stream: Readable | null, onLine: (line: string) => void): void {
  if (!stream) return;
  let pending = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    pending += chunk;
    let newline = pending.indexOf('\n');
    while (newline >= 0) {
      onLine(pending.slice(0, newline).replace(/\r$/, ''));
      pending = pending.slice(newline + 1);
      newline = pending.indexOf('\n');
    }
  });
  stream.on('end', () => {
    if (pending) onLine(pending);
    pending = '';
  });
}

/** The parent pid of `pid` (Linux /proc), or undefined. */
function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return Number.isInteger(ppid) ? ppid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Call `onGone` once if the processes that launched this one go away: our parent
 * (`tsx`) or its parent (the `sh -c` of `npm start`). `kill <npm pid>` makes npm
 * forward SIGTERM to that shell, which dies without passing it on; without this
 * the stack would keep running, orphaned. Linux only; a no-op elsewhere.
 */
export function watchLaunchers(onGone: () => void): () => void {
  const parent = process.ppid;
  const grandparent = parentOf(parent);
  if (grandparent === undefined) return () => undefined;
  const timer = setInterval(() => {
    if (process.ppid !== parent || parentOf(parent) !== grandparent) {
      clearInterval(timer);
      onGone();
    }
  }, 1_000);
  timer.unref();
  return () => clearInterval(timer);
}

export const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
