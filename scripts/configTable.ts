/**
 * Prints the configuration table of the README from the services' environment schemas
 * (`npm run config:table`), so the documentation cannot drift from the code.
 */
import { z } from 'zod';
import { backupEnv } from '../services/backup/src/config.js';
import { gatewayEnv } from '../services/gateway/src/config.js';
import { meteringEnv } from '../services/metering/src/config.js';
import { provisionerEnv } from '../services/provisioner/src/config.js';
import { quotaEnv } from '../services/quota/src/config.js';

export const serviceEnvs: Record<string, z.ZodObject> = {
  gateway: gatewayEnv,
  provisioner: provisionerEnv,
  metering: meteringEnv,
  quota: quotaEnv,
  backup: backupEnv,
};

export interface ConfigRow {
  name: string;
  default: string;
  meaning: string;
  services: string[];
}

export function configRows(): ConfigRow[] {
  const rows = new Map<string, ConfigRow>();
  for (const [service, schema] of Object.entries(serviceEnvs)) {
    for (const [name, field] of Object.entries(schema.shape)) {
      const row = rows.get(name) ?? { name, default: defaultOf(field as z.ZodType), meaning: '', services: [] };
      row.meaning ||= (field as z.ZodType).description ?? '';
      row.services.push(service);
      rows.set(name, row);
    }
  }
  return [...rows.values()].sort((a, b) => a.name.localeCompare(b.name));
}

function defaultOf(field: z.ZodType): string {
  const json = z.toJSONSchema(field, { io: 'input', unrepresentable: 'any' }) as { default?: unknown };
  if (json.default === undefined) return '(built in)';
  const text = String(json.default);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log('| variable | default | used by | meaning |');
  console.log('|---|---|---|---|');
  for (const row of configRows()) {
    const used = row.services.length === 5 ? 'all' : row.services.join(', ');
    console.log(`| \`${row.name}\` | \`${row.default}\` | ${used} | ${row.meaning} |`);
  }
}
