/**
 * Writes the JSON Schemas and the AsyncAPI document generated from packages/contracts:
 *   docs/schemas/<type>.json, docs/schemas/cloudevent-attributes.json, docs/asyncapi.json
 * Run with `npm run contracts:export`. Deterministic: a rerun without code changes writes the same bytes.
 * Schema files no longer generated are removed from docs/schemas.
 */
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exportDocs, SCHEMAS_DIR } from '../src/docsExport.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

async function main(): Promise<void> {
  const files = exportDocs();
  let written = 0;
  for (const [path, content] of Object.entries(files)) {
    const target = join(root, path);
    const current = await readFile(target, 'utf8').catch(() => undefined);
    if (current === content) continue;
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, content);
    written++;
    console.log(`wrote ${path}`);
  }
  const schemaDir = join(root, SCHEMAS_DIR);
  let removed = 0;
  for (const name of await readdir(schemaDir)) {
    if (name.endsWith('.json') && !(`${SCHEMAS_DIR}/${name}` in files)) {
      await rm(join(schemaDir, name));
      removed++;
      console.log(`removed ${SCHEMAS_DIR}/${name}`);
    }
  }
  console.log(
    `contracts export: ${Object.keys(files).length} files, ${written} written, ${removed} removed, ${Object.keys(files).length - written} unchanged`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
