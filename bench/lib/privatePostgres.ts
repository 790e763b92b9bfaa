import { execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@ttm/service-kit/testing';

export interface PrivatePostgres {
  port: number;
  /** Where its data directory lives (removed by stop). */
  dir: string;
  url(database: string): string;
  /** Stop at once and remove the data directory. */
  stop(): void;
}

function postgresBin(): string {
  const versions = execFileSync('ls', ['/usr/lib/postgresql']).toString().trim().split('\n').sort();
  return `/usr/lib/postgresql/${versions.at(-1)}/bin`;
}

/**
 * A throwaway PostgreSQL cluster: initdb under the temporary directory, pg_ctl on a free port,
 * trust auth for `postgres` on 127.0.0.1, `settings` as `-c name=value`. As root, the server
 * runs as the `postgres` user (initdb refuses root).
 */
export async function startPrivatePostgres(prefix: string, settings: Record<string, string>): Promise<PrivatePostgres> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString());
    chownSync(dir, uid, gid);
  }
  const port = await freePort();
  const bin = postgresBin();
  const asOwner = (cmd: string, args: string[]) =>
    asRoot
      ? execFileSync('runuser', ['-u', 'postgres', '--', `${bin}/${cmd}`, ...args], { stdio: 'pipe' })
      : execFileSync(`${bin}/${cmd}`, args, { stdio: 'pipe' });
  const remove = () => rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
  try {
    asOwner('initdb', ['-D', `${dir}/data`, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
    const options = [
      `-p ${port}`,
      `-k ${dir}`,
      '-c listen_addresses=127.0.0.1',
      ...Object.entries(settings).map(([name, value]) => `-c ${name}=${value}`),
    ].join(' ');
    asOwner('pg_ctl', ['-D', `${dir}/data`, '-l', `${dir}/log`, '-w', '-t', '120', '-o', options, 'start']);
  } catch (error) {
    remove();
    throw error;
  }
  return {
    port,
    dir,
    url: (db) => `postgres://postgres@127.0.0.1:${port}/${db}`,
    stop: () => {
      try {
        asOwner('pg_ctl', ['-D', `${dir}/data`, '-m', 'immediate', '-w', 'stop']);
      } catch {
        // already stopped
      } finally {
        remove();
      }
    },
  };
}
