/**
 * `npm run bootstrap`: create or update every NATS stream, consumer, KV bucket and
 * object store of @ttm/contracts, and the control-plane database. Safe to re-run.
 *
 * Run as a PostgreSQL superuser, it also keeps a role per service that owns its schema
 * (`ttm_gateway`, `ttm_backup`, `ttm_provisioner`, `ttm_metering`, `ttm_quota`, `ttm_webhooks`;
 * password from DATABASE_<SERVICE>_PASSWORD when set; DATABASE_ROLE_PREFIX replaces `ttm`, which tests
 * use to keep their roles apart on a shared server):
 * give that service `DATABASE_URL=postgres://ttm_gateway:...@host/ttm` and it can read no other
 * service's tables.
 */

import pg from 'pg';
import { bootstrapTopology, topologySettingsFrom } from '../packages/service-kit/src/bootstrap.js';
import { type CommonConfig, ConfigError, commonEnv, loadConfig } from '../packages/service-kit/src/config.js';
import {
  ensureServiceRole,
  rolePrefix,
  SERVICE_SCHEMAS,
  serviceRoleName,
} from '../packages/service-kit/src/databaseRoles.js';
import { loadDotEnv } from '../packages/service-kit/src/environment.js';
import { createLogger } from '../packages/service-kit/src/logger.js';
import { connectNats, type NatsLink, natsSecurityOf } from '../packages/service-kit/src/nats.js';
import { ensureDatabase } from '../packages/service-kit/src/postgres.js';

/** A failure the operator fixes by starting something or setting a variable: printed as one line. */
class BootstrapError extends Error {}

function reason(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  // Node reports a refused connection to a name with several addresses as an AggregateError with no message.
  if (error.message) return error.message;
  const code = (error as { code?: unknown }).code;
  if (error instanceof AggregateError && error.errors[0] instanceof Error) return reason(error.errors[0]);
  return typeof code === 'string' ? code : error.name;
}

function redactUrl(value: string): string {
  return value.replace(/\/\/([^:@/]+):([^@/]+)@/, '//$1:***@');
}

async function bootstrapNats(config: CommonConfig): Promise<void> {
  // The CLI prints its own report; logs only for warnings unless LOG_LEVEL asks for more.
  const logger = createLogger('bootstrap', process.env.LOG_LEVEL ? config.LOG_LEVEL : 'warn');
  let link: NatsLink;
  try {
    link = await connectNats(config.NATS_URL, 'ttm-bootstrap', logger, { security: natsSecurityOf(config) });
  } catch (error) {
    throw new BootstrapError(
      `NATS is not reachable at ${redactUrl(config.NATS_URL)} (${reason(error)}): start nats-server -js or set NATS_URL`,
    );
  }
  try {
    const report = await bootstrapTopology(link.nc, topologySettingsFrom(config), logger).catch((error: unknown) => {
      throw new BootstrapError(`NATS topology at ${redactUrl(config.NATS_URL)}: ${reason(error)}`);
    });
    for (const item of report.created) console.log(`created   ${item}`);
    for (const item of report.updated) console.log(`updated   ${item}`);
    console.log(
      `NATS: ${report.created.length} created, ${report.updated.length} updated, ${report.unchanged.length} unchanged`,
    );
  } finally {
    await link.nc.close();
  }
}

async function bootstrapDatabase(config: CommonConfig): Promise<void> {
  try {
    await ensureDatabase(config.DATABASE_URL);
  } catch (error) {
    throw new BootstrapError(
      `PostgreSQL is not reachable at ${redactUrl(config.DATABASE_URL)} or cannot create its database (${reason(error)}): ` +
        'start it or set DATABASE_URL',
    );
  }
  console.log(`PostgreSQL: database of DATABASE_URL ${redactUrl(config.DATABASE_URL)} is present`);
  await bootstrapRoles(config.DATABASE_URL);
}

async function bootstrapRoles(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ rolsuper: boolean }>(
      'SELECT rolsuper FROM pg_roles WHERE rolname = current_user',
    );
    if (!rows[0]?.rolsuper) {
      console.log('PostgreSQL: not a superuser, service roles left as they are');
      return;
    }
    // Two bootstraps of one database (several stacks starting) take turns.
    await client.query('BEGIN');
    await client.query("SELECT pg_advisory_xact_lock(hashtext('ttm-bootstrap-roles'))");
    for (const [service, schema] of Object.entries(SERVICE_SCHEMAS)) {
      const role = serviceRoleName(service, rolePrefix(process.env));
      const password = process.env[`DATABASE_${service.toUpperCase()}_PASSWORD`] || undefined;
      await ensureServiceRole(client, { schema, role, password });
      console.log(`PostgreSQL: role ${role} owns schema ${schema}`);
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw new BootstrapError(`PostgreSQL service roles: ${reason(error)}`);
  } finally {
    await client.end();
  }
}

async function main(): Promise<void> {
  loadDotEnv(process.env);
  const config = loadConfig(commonEnv);
  await bootstrapNats(config);
  await bootstrapDatabase(config);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    if (error instanceof ConfigError || error instanceof BootstrapError) {
      console.error(`bootstrap: ${error.message}`);
    } else {
      console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    }
    process.exit(1);
  },
);
