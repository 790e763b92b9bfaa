/** Runs `tsx scripts/bootstrap.ts` (streams, consumers, buckets, database) as a child process. */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { eachLine, repoRoot, stopChild, tsxBin } from './processes.js';

export interface BootstrapOutcome {
  ok: boolean;
  /** Why it failed: its last line on stderr, or what went wrong running it. */
  message?: string;
}

export async function runBootstrap(env: NodeJS.ProcessEnv, signal: AbortSignal): Promise<BootstrapOutcome> {
  const script = join(repoRoot, 'scripts', 'bootstrap.ts');
  if (!existsSync(script)) return { ok: false, message: 'scripts/bootstrap.ts does not exist' };

  const child = spawn(tsxBin(), ['scripts/bootstrap.ts'], {
    cwd: repoRoot,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group: a Ctrl-C is handled by the stack runner, which stops it.
    detached: true,
  });
  let lastError = '';
  eachLine(child.stdout, (line) => console.log(`[bootstrap] ${line}`));
  eachLine(child.stderr, (line) => {
    if (line.trim()) lastError = line.trim();
    console.error(`[bootstrap] ${line}`);
  });
  const onAbort = () => void stopChild(child, 'SIGTERM', 5_000);
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    const code = await new Promise<number | string>((resolve) => {
      child.once('error', (error) => {
        lastError = error.message;
        resolve(1);
      });
      child.once('close', (exitCode, exitSignal) => resolve(exitCode ?? exitSignal ?? 1));
    });
    if (code === 0) return { ok: true };
    return { ok: false, message: `exit code ${code}${lastError ? `: ${lastError.replace(/^bootstrap: /, '')}` : ''}` };
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
