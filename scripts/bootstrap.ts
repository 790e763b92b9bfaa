/**
 * `npm run bootstrap`: create or update every NATS stream, consumer, KV bucket and
 * object store of @ttm/contracts, and the control-plane database. Safe to re-run.
 */
import { bootstrapTopology, topologySettingsFrom } from '../packages/service-kit/src/bootstrap.js';
import { type CommonConfig, ConfigError, commonEnv, loadConfig } from '../packages/service-kit/src/config.js';
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
