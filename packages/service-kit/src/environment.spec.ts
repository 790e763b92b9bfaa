import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, commonEnv, loadConfig } from './config.js';
import { applySeedAliases, loadDotEnv } from './environment.js';

describe('loadDotEnv', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('reads .env under what the environment already sets', () => {
    dir = mkdtempSync(join(tmpdir(), 'ttm-dotenv-'));
    writeFileSync(join(dir, '.env'), '# local\nLOG_LEVEL=debug\nREDIS_KEY_PREFIX="mine:"\nNATS_URL=nats://file:4222\n');
    const env: NodeJS.ProcessEnv = { NATS_URL: 'nats://env:4222' };
    expect(loadDotEnv(env, dir).sort()).toEqual(['LOG_LEVEL', 'REDIS_KEY_PREFIX']);
    expect(env).toEqual({ NATS_URL: 'nats://env:4222', LOG_LEVEL: 'debug', REDIS_KEY_PREFIX: 'mine:' });
    expect(loadConfig(commonEnv, env)).toMatchObject({ LOG_LEVEL: 'debug', NATS_URL: 'nats://env:4222' });
  });

  it('does nothing without a .env', () => {
    dir = mkdtempSync(join(tmpdir(), 'ttm-dotenv-'));
    const env: NodeJS.ProcessEnv = {};
    expect(loadDotEnv(env, dir)).toEqual([]);
    expect(env).toEqual({});
  });
});

describe('seed aliases', () => {
  const url = 'postgres://postgres@db.example:5432/twenty_global';

  it('GLOBAL_DATABASE_URL stands for DATABASE_URL', () => {
    expect(loadConfig(commonEnv, { GLOBAL_DATABASE_URL: url }).DATABASE_URL).toBe(url);
    expect(loadConfig(commonEnv, { GLOBAL_DATABASE_URL: url, DATABASE_URL: url }).DATABASE_URL).toBe(url);
  });

  it('both set and different: a clear error naming both', () => {
    const load = () =>
      loadConfig(commonEnv, { GLOBAL_DATABASE_URL: url, DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/ttm' });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(/GLOBAL_DATABASE_URL and DATABASE_URL are both set and differ/);
  });

  it('the alias is validated like the name it stands for', () => {
    expect(() => loadConfig(commonEnv, { GLOBAL_DATABASE_URL: 'mysql://x' })).toThrow(/DATABASE_URL .*must be a URL/);
  });

  it('applies only to names a schema has', () => {
    const env: NodeJS.ProcessEnv = { MAX_TOTAL_CONNECTIONS: '50' };
    expect(applySeedAliases(env, new Set(['DATABASE_URL']))).toEqual([]);
    expect(env.DATA_PLANE_CONNECTIONS_MAX).toBeUndefined();
    expect(applySeedAliases(env)).toEqual([]);
    expect(env.DATA_PLANE_CONNECTIONS_MAX).toBe('50');
  });
});
