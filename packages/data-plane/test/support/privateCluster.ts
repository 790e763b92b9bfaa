import { execFile } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Catalog } from '@ttm/service-kit';

const run = promisify(execFile);
const bin = (name: string) => `/usr/lib/postgresql/15/bin/${name}`;

/** A throw-away PostgreSQL server on a random port, with the settings a test needs (max_connections). */
export interface PrivateCluster {
  url: (database?: string) => string;
  stop(): Promise<void>;
}

/**
 * initdb into a temporary directory and start it with pg_ctl (as the postgres user when run as
 * root, which initdb refuses). fsync is off: the data is thrown away at the end.
 */
export async function startPrivateCluster(settings: Record<string, string | number>): Promise<PrivateCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'ttm-pg-'));
  await chmod(dir, 0o777);
  const data = join(dir, 'data');
  const asPostgres = process.getuid?.() === 0;
  const exec = (file: string, args: string[]) =>
    asPostgres ? run('runuser', ['-u', 'postgres', '--', file, ...args]) : run(file, args);
  const port = 20_000 + Math.floor(Math.random() * 30_000);
  await exec(bin('initdb'), ['-D', data, '--auth=trust', '--encoding=UTF8', '--locale=C', '-U', 'postgres']);
  const options = [
    `-p ${port}`,
    '-c listen_addresses=127.0.0.1',
    `-c unix_socket_directories=${dir}`,
    '-c fsync=off',
    '-c full_page_writes=off',
    '-c synchronous_commit=off',
    ...Object.entries(settings).map(([k, v]) => `-c ${k}=${v}`),
  ].join(' ');
  await exec(bin('pg_ctl'), ['-D', data, '-l', join(dir, 'log'), '-o', options, '-w', 'start']);
  return {
    url: (database = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${database}`,
    async stop() {
      await exec(bin('pg_ctl'), ['-D', data, '-m', 'immediate', 'stop']).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A catalog of one region `r1` with one cluster `c1` whose shared database is `shared` on `cluster`. */
export const oneClusterCatalog = (cluster: PrivateCluster): Catalog =>
  ({
    region: () => ({ clusters: [{ name: 'c1', url: cluster.url('shared') }] }),
  }) as unknown as Catalog;

/** The address of a tenant's dedicated database on that cluster. */
export const dedicatedDatabase = (database: string) => ({
  region: 'r1',
  cluster: 'c1',
  kind: 'database' as const,
  database,
  schema: 'ws',
});
