/**
 * `npm run build`: compiled JavaScript for production (the Docker image runs it; `npm start`
 * keeps running the TypeScript sources through tsx).
 *
 * One ES module per entry point, next to the sources it comes from, so paths a service resolves
 * from its own file (`../migrations`, `../package.json`) stay right:
 *   services/<name>/src/main.ts -> services/<name>/dist/main.js
 *   scripts/bootstrap.ts        -> dist/bootstrap.js
 *   packages/cli/src/main.ts    -> packages/cli/dist/main.js
 * The workspace packages (@ttm/*) are compiled in; every other package stays an import from
 * node_modules (native modules such as argon2 cannot be bundled). Type checking is
 * `npm run typecheck`'s job: this only strips types.
 */
import { rmSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { build, type Plugin } from 'esbuild';
import { repoRoot } from './stack/processes.js';

const services = ['gateway', 'provisioner', 'metering', 'quota', 'backup', 'webhooks'];

const entries: { from: string; to: string }[] = [
  ...services.map((name) => ({ from: `services/${name}/src/main.ts`, to: `services/${name}/dist/main.js` })),
  { from: 'scripts/bootstrap.ts', to: 'dist/bootstrap.js' },
  { from: 'packages/cli/src/main.ts', to: 'packages/cli/dist/main.js' },
];

/** Bare imports other than the workspace's own packages are left to node_modules at run time. */
const thirdPartyExternal: Plugin = {
  name: 'third-party-external',
  setup(context) {
    context.onResolve({ filter: /^[^./]/ }, (args) =>
      args.path.startsWith('@ttm/') ? undefined : { path: args.path, external: true },
    );
  },
};

const started = performance.now();
for (const dir of new Set(entries.map((e) => resolve(repoRoot, e.to, '..'))))
  rmSync(dir, { recursive: true, force: true });
for (const entry of entries) {
  await build({
    absWorkingDir: repoRoot,
    entryPoints: [entry.from],
    outfile: entry.to,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    sourcemap: true,
    logLevel: 'warning',
    plugins: [thirdPartyExternal],
  });
  console.log(`built ${relative(repoRoot, resolve(repoRoot, entry.to))}`);
}
console.log(`build: ${entries.length} entry points in ${((performance.now() - started) / 1000).toFixed(1)} s`);
