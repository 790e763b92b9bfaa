import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import {
  issuesToFields,
  UpgradeQuerySubjects,
  type UpgradeReply,
  UpgradeRequest,
  type UpgradeView,
} from '@ttm/contracts';
import type { Logger, Pool } from '@ttm/service-kit';
import { createRollback, createUpgrade, readUpgrade, setUpgradeStatus, UpgradeRefused } from './fleetUpgrade.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface UpgradeRequestsOptions {
  nc: NatsConnection;
  /** The provisioner's control-plane pool (schema `provisioner`). */
  pool: Pool;
  /** Called after an upgrade is started or resumed: the scheduler looks for it now, not at its next tick. */
  onRunnable: () => void;
  logger: Logger;
}

/**
 * Answer `query.provisioner.upgrades` for the gateway (queue group `provisioner`: each request
 * is answered by one instance). The upgrade tables stay the provisioner's own; the scheduler of
 * whichever instance holds an upgrade's advisory lock carries it out.
 */
export function serveUpgradeRequests(options: UpgradeRequestsOptions): Subscription {
  return options.nc.subscribe(UpgradeQuerySubjects.upgrades, {
    queue: 'provisioner',
    callback: (_error, msg) => {
      void answerUpgradeRequest(options, msg.data)
        .catch((error: unknown): UpgradeReply => {
          options.logger.warn({ err: error }, 'upgrade request failed');
          return { ok: false, error: { code: 'unavailable', message: 'upgrades are unavailable right now; retry' } };
        })
        .then((reply) => msg.respond(encoder.encode(JSON.stringify(reply))));
    },
  });
}

/** One request, answered: the upgrade as it stands after the request, or why it was refused. */
export async function answerUpgradeRequest(options: UpgradeRequestsOptions, data: Uint8Array): Promise<UpgradeReply> {
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(data));
  } catch {
    return { ok: false, error: { code: 'bad-request', message: 'the request body is not JSON' } };
  }
  const parsed = UpgradeRequest.safeParse(json);
  if (!parsed.success) {
    const fields = issuesToFields(parsed.error).map((f) => `${f.path || '(root)'}: ${f.message}`);
    return { ok: false, error: { code: 'bad-request', message: fields.join('; ') } };
  }
  const request = parsed.data;
  const { pool } = options;
  const view = async (upgradeId: string, tenants: 'all' | 'none' | 'unfinished' | 'failed' = 'none') => {
    const found = await readUpgrade(pool, upgradeId, { tenants });
    return found
      ? ({ ok: true, result: found } as const)
      : ({ ok: false, error: { code: 'not-found', message: `no upgrade has the id ${upgradeId}` } } as const);
  };
  try {
    switch (request.op) {
      case 'list':
        return { ok: true, upgrades: await listUpgrades(pool, request.limit) };
      case 'get':
        return await view(request.upgradeId, request.tenants);
      case 'start': {
        if (request.upgradeId && (await readUpgrade(pool, request.upgradeId, { tenants: false }))) {
          return await view(request.upgradeId);
        }
        const upgradeId = await createUpgrade(
          pool,
          request.spec,
          request.upgradeId ? { upgradeId: request.upgradeId } : {},
        );
        options.logger.info({ upgradeId, spec: request.spec, actor: request.actor }, 'schema upgrade started');
        options.onRunnable();
        return await view(upgradeId);
      }
      case 'pause':
      case 'resume':
      case 'cancel': {
        await setUpgradeStatus(
          pool,
          request.upgradeId,
          request.op,
          request.actor ? `${request.op} by ${request.actor}` : undefined,
        );
        options.logger.info({ upgradeId: request.upgradeId, actor: request.actor }, `schema upgrade ${request.op}d`);
        if (request.op === 'resume') options.onRunnable();
        return await view(request.upgradeId);
      }
      case 'rollback': {
        const rollbackId = await createRollback(pool, request.upgradeId);
        options.logger.info(
          { upgradeId: request.upgradeId, rollbackId, actor: request.actor },
          'schema rollback started',
        );
        options.onRunnable();
        return await view(rollbackId);
      }
    }
  } catch (error) {
    if (error instanceof UpgradeRefused) return { ok: false, error: { code: error.code, message: error.message } };
    throw error;
  }
}

/**
 * The most recent upgrades, newest first, counts only: what the dashboard's list shows. Each is
 * read as `get` with `tenants=none` reads it, one after another (the list is short).
 */
async function listUpgrades(pool: Pool, limit: number): Promise<UpgradeView[]> {
  const { rows } = await pool.query<{ id: string }>(
    'SELECT id FROM provisioner.upgrades ORDER BY created_at DESC, id LIMIT $1',
    [limit],
  );
  const upgrades: UpgradeView[] = [];
  for (const { id } of rows) {
    const upgrade = await readUpgrade(pool, id, { tenants: 'none' });
    if (upgrade) upgrades.push(upgrade);
  }
  return upgrades;
}
