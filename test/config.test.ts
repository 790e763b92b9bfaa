import { readFileSync } from 'node:fs';
import { ConfigError, commonEnv, loadConfig } from '@ttm/service-kit';
import { describe, expect, it } from 'vitest';
import { configRows, envExample, serviceEnvs } from '../scripts/configTable.js';

describe('configuration', () => {
  it('.env.example is generated from the schemas and up to date', () => {
    const example = readFileSync(new URL('../.env.example', import.meta.url), 'utf8');
    expect(example === envExample(), '.env.example is stale: run npm run config:example').toBe(true);
  });

  it('.env.example lists every variable a service reads', () => {
    const example = readFileSync(new URL('../.env.example', import.meta.url), 'utf8');
    const listed = new Set([...example.matchAll(/^#?\s*([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]));
    const missing = configRows()
      .map((row) => row.name)
      .filter((name) => !listed.has(name));
    expect(missing, 'add these to .env.example (npm run config:table prints their defaults)').toEqual([]);
  });

  it('works with an empty environment on a developer machine', () => {
    for (const [service, schema] of Object.entries(serviceEnvs)) {
      expect(() => loadConfig(schema, {}), service).not.toThrow();
    }
  });

  it('names every bad variable on its own line, and hides secrets', () => {
    let error: unknown;
    try {
      loadConfig(commonEnv, {
        DATABASE_URL: 'mysql://user:hunter2@db/x',
        NATS_STREAM_REPLICAS: 'seven',
        USAGE_MAX_AGE: 'forever',
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const lines = (error as ConfigError).message.split('\n').slice(1);
    expect(lines).toHaveLength(3);
    expect(lines.find((l) => l.includes('DATABASE_URL'))).toMatch(/postgres:\/\//);
    expect((error as ConfigError).message).not.toContain('hunter2');
    expect(lines.find((l) => l.includes('USAGE_MAX_AGE'))).toMatch(/not a duration/);
    expect(lines.find((l) => l.includes('NATS_STREAM_REPLICAS'))).toBeDefined();
  });
});
