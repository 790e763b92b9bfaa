/**
 * `npm start` connects each service to the control-plane database as its own role (`ttm_gateway`,
 * ...) when the bootstrap could create the roles, that is when DATABASE_URL's user is a
 * superuser; otherwise, or when a role cannot log in, every service keeps DATABASE_URL as it is.
 *
 * Passwords: DATABASE_<SERVICE>_PASSWORD when set; otherwise, when DATABASE_URL carries a password
 * (the server checks them), one generated per service and kept in .data/postgres-roles.json
 * (mode 0600) so a restart reuses it; otherwise none (trust authentication, as on the machines here).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import pg from 'pg';
import {
  asServiceRole,
  SERVICE_SCHEMAS,
  type ServiceWithSchema,
  serviceRoleName,
} from '../../packages/service-kit/src/databaseRoles.js';

const services = Object.keys(SERVICE_SCHEMAS) as ServiceWithSchema[];
export const passwordVariable = (service: ServiceWithSchema): string => `DATABASE_${service.toUpperCase()}_PASSWORD`;
export const rolePasswordsFile = (dataRoot: string): string => join(dataRoot, 'postgres-roles.json');

/** The DATABASE_<SERVICE>_PASSWORD variables the bootstrap and the stack use (empty: no passwords). */
export function rolePasswordEnv(databaseUrl: string, env: NodeJS.ProcessEnv, dataRoot: string): Record<string, string> {
  const fromEnv = Object.fromEntries(
    services.flatMap((s) => (env[passwordVariable(s)] ? [[passwordVariable(s), env[passwordVariable(s)]!]] : [])),
  );
  if (Object.keys(fromEnv).length > 0 || !new URL(databaseUrl).password) return fromEnv;
  const file = rolePasswordsFile(dataRoot);
  let saved: Record<string, string> = {};
  if (existsSync(file)) saved = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
  const passwords = Object.fromEntries(
    services.map((s) => [passwordVariable(s), saved[passwordVariable(s)] ?? randomBytes(24).toString('base64url')]),
  );
  if (services.some((s) => saved[passwordVariable(s)] === undefined)) {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, `${JSON.stringify(passwords, null, 2)}\n`, { mode: 0o600 });
  }
  return passwords;
}

export type ServiceDatabaseUrls =
  | { kind: 'roles'; urls: Record<ServiceWithSchema, string> }
  | { kind: 'shared'; reason: string };

async function withClient<T>(url: string, run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

const message = (error: unknown) => (error instanceof Error ? error.message || error.name : String(error));

/**
 * After the bootstrap: each service's URL as its role if every role owns its schema and logs in,
 * otherwise why not (the stack then uses DATABASE_URL for all).
 */
export async function serviceDatabaseUrls(
  databaseUrl: string,
  passwords: Record<string, string>,
  /** Role names are `<prefix>_<service>` (tests use their own). */
  prefix = 'ttm',
): Promise<ServiceDatabaseUrls> {
  try {
    const owners = await withClient(databaseUrl, async (client) => {
      const { rows } = await client.query<{ rolsuper: boolean }>(
        'SELECT rolsuper FROM pg_roles WHERE rolname = current_user',
      );
      if (!rows[0]?.rolsuper) return undefined;
      const { rows: schemas } = await client.query<{ schema: string; owner: string }>(
        `SELECT n.nspname AS schema, pg_get_userbyid(n.nspowner) AS owner FROM pg_namespace n WHERE n.nspname = ANY($1)`,
        [Object.values(SERVICE_SCHEMAS)],
      );
      return new Map(schemas.map((row) => [row.schema, row.owner]));
    });
    if (!owners) return { kind: 'shared', reason: "DATABASE_URL's user is not a superuser, so no service roles" };
    const urls = {} as Record<ServiceWithSchema, string>;
    for (const service of services) {
      const role = serviceRoleName(service, prefix);
      if (owners.get(SERVICE_SCHEMAS[service]) !== role) {
        return { kind: 'shared', reason: `schema ${SERVICE_SCHEMAS[service]} is not owned by ${role}` };
      }
      const url = asServiceRole(databaseUrl, { role, password: passwords[passwordVariable(service)] });
      try {
        await withClient(url, (client) => client.query('SELECT 1'));
      } catch (error) {
        return { kind: 'shared', reason: `role ${role} cannot log in (${message(error)})` };
      }
      urls[service] = url;
    }
    return { kind: 'roles', urls };
  } catch (error) {
    return { kind: 'shared', reason: `service roles not checked (${message(error)})` };
  }
}
