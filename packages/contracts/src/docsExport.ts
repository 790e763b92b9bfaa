/**
 * The generated documentation files as strings, keyed by path from the repository root.
 * Pure: `scripts/export.ts` writes them, and a test compares them with the files on disk.
 */
import { exportAsyncApi } from './asyncapi.js';
import { exportJsonSchemas } from './jsonSchema.js';

export const SCHEMAS_DIR = 'docs/schemas';
export const ASYNCAPI_FILE = 'docs/asyncapi.json';
export const EXPORT_COMMAND = 'npm run contracts:export';

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    return Object.fromEntries(
      Object.keys(obj)
        .sort()
        .filter((k) => obj[k] !== undefined)
        .map((k) => [k, sortKeys(obj[k])]),
    );
  }
  return value;
}

/** Pretty JSON with object keys sorted at every level (arrays keep their order) and a trailing newline. */
export function stableJson(value: unknown): string {
  return `${JSON.stringify(sortKeys(value), null, 2)}\n`;
}

/** Every generated file: `docs/schemas/<type>.json`, `docs/schemas/cloudevent-attributes.json`, `docs/asyncapi.json`. */
export function exportDocs(): Record<string, string> {
  const files: Record<string, string> = {};
  for (const [name, schema] of Object.entries(exportJsonSchemas()))
    files[`${SCHEMAS_DIR}/${name}`] = stableJson(schema);
  files[ASYNCAPI_FILE] = stableJson(exportAsyncApi());
  return files;
}
