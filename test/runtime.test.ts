import { readFileSync } from 'node:fs';
import { gatewayEnv } from '@ttm/gateway/config';
import { commonEnv, loadConfig } from '@ttm/service-kit';
import { describe, expect, it } from 'vitest';

const file = (path: string) => readFileSync(new URL(`../${path}`, import.meta.url), 'utf8');
const LTS_MAJOR = '24';

describe('Node.js', () => {
  it(`tests run on Node.js ${LTS_MAJOR} LTS (the node package npm scripts put first on PATH)`, () => {
    expect(process.versions.node.split('.')[0]).toBe(LTS_MAJOR);
  });

  it('package.json asks for it, and Docker images use it', () => {
    const pkg = JSON.parse(file('package.json')) as {
      engines: { node: string };
      devDependencies: Record<string, string>;
      scripts: Record<string, string>;
    };
    expect(pkg.engines.node).toBe(`>=${LTS_MAJOR}`);
    expect(pkg.devDependencies.node?.split('.')[0]).toBe(LTS_MAJOR);
    expect(pkg.scripts.build).toBeDefined();
    const dockerfile = file('Dockerfile');
    expect(dockerfile.match(/^FROM node:(\S+)/gm)?.every((line) => line.includes(`node:${LTS_MAJOR}-slim`))).toBe(true);
    // Production images run the build, not tsx.
    expect(dockerfile).toMatch(/^CMD \["node", "--enable-source-maps", "services\/gateway\/dist\/main\.js"\]$/m);
    expect(file('docker-compose.yml')).not.toMatch(/tsx/);
  });
});

describe('binding', () => {
  it('services listen on 127.0.0.1 unless HOST says otherwise; containers set 0.0.0.0', () => {
    expect(loadConfig(commonEnv, {}).HOST).toBe('127.0.0.1');
    expect(loadConfig(gatewayEnv, {}).HOST).toBe('127.0.0.1');
    expect(loadConfig(gatewayEnv, { HOST: '0.0.0.0' }).HOST).toBe('0.0.0.0');
    expect(file('Dockerfile')).toMatch(/^\s+HOST=0\.0\.0\.0$/m);
  });
});

describe('.ci/run', () => {
  it('names files relative to the repository, not by a path of one build machine', () => {
    const comments = file('.ci/run')
      .split('\n')
      .filter((line) => line.trimStart().startsWith('#'));
    const machinePaths = comments.filter((line) => /(^|[\s"'(])\/(work|home|root|tmp|srv|opt|Users)\//.test(line));
    expect(machinePaths).toEqual([]);
  });
});
