/**
 * `npm run bench` runs every benchmark; `npm run bench -- <name>` runs one. Each prints its
 * setup and `bench <name> <figure>: <value> <unit>` lines, and writes bench/results/<name>.json.
 */
import { readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('.', import.meta.url));
const available = (await readdir(dir)).filter((f) => f.endsWith('.ts') && f !== 'run.ts').map((f) => f.slice(0, -3));
// Names come before any `--flag`; a benchmark reads its own flags from process.argv.
const args = process.argv.slice(2);
const firstFlag = args.findIndex((a) => a.startsWith('--'));
const wanted = firstFlag < 0 ? args : args.slice(0, firstFlag);
const unknown = wanted.filter((w) => !available.includes(w));
if (unknown.length > 0) {
  console.error(`bench: unknown benchmark ${unknown.join(', ')}; available: ${available.join(', ')}`);
  process.exit(1);
}
let failed = false;
for (const name of wanted.length > 0 ? wanted : available) {
  console.log(`\n== bench ${name}`);
  try {
    const module = (await import(`./${name}.ts`)) as { run: () => Promise<void> };
    await module.run();
  } catch (error) {
    failed = true;
    console.error(`bench ${name} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  }
}
process.exit(failed ? 1 : 0);
