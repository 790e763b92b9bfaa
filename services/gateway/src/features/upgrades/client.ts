import type { NatsConnection } from '@nats-io/transport-node';
import {
  type UpgradeList,
  UpgradeQuerySubjects,
  UpgradeReply,
  type UpgradeRequest,
  type UpgradeView,
} from '@ttm/contracts';
import {
  UnknownSchemaVersion,
  UpgradeBadRequest,
  UpgradeConflict,
  UpgradeNotFound,
  UpgradesUnavailable,
} from './problems.js';

/** How long the gateway waits for the provisioner (planning 10,000 tenants writes 10,000 rows). */
export const UPGRADES_REQUEST_TIMEOUT_MS = 30_000;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

type Answer = Extract<UpgradeReply, { ok: true }>;

/**
 * Ask the provisioner (`query.provisioner.upgrades`); its refusals become problems. The gateway
 * never reads the provisioner's upgrade tables.
 */
async function ask(nc: NatsConnection, request: UpgradeRequest, timeoutMs: number): Promise<Answer> {
  let raw: Uint8Array;
  try {
    const msg = await nc.request(UpgradeQuerySubjects.upgrades, encoder.encode(JSON.stringify(request)), {
      timeout: timeoutMs,
    });
    raw = msg.data;
  } catch (error) {
    throw new UpgradesUnavailable((error as Error).message);
  }
  const parsed = UpgradeReply.safeParse(JSON.parse(decoder.decode(raw)));
  if (!parsed.success) throw new UpgradesUnavailable('its answer breaks the contract');
  const reply = parsed.data;
  if (reply.ok) return reply;
  const { code, message } = reply.error;
  if (code === 'unknown-version') throw new UnknownSchemaVersion(message);
  if (code === 'not-found') throw new UpgradeNotFound(message);
  if (code === 'conflict') throw new UpgradeConflict(message);
  if (code === 'bad-request') throw new UpgradeBadRequest(message);
  throw new UpgradesUnavailable(message);
}

/** Start, read or steer one upgrade: the upgrade as the provisioner answers it. */
export async function askUpgrades(
  nc: NatsConnection,
  request: Exclude<UpgradeRequest, { op: 'list' }>,
  timeoutMs = UPGRADES_REQUEST_TIMEOUT_MS,
): Promise<UpgradeView> {
  const answer = await ask(nc, request, timeoutMs);
  if ('result' in answer) return answer.result;
  throw new UpgradesUnavailable(`it answered a list to ${request.op}`);
}

/** The most recent upgrades, newest first, counts only. */
export async function listUpgrades(
  nc: NatsConnection,
  limit: number,
  timeoutMs = UPGRADES_REQUEST_TIMEOUT_MS,
): Promise<UpgradeList> {
  const answer = await ask(nc, { op: 'list', limit }, timeoutMs);
  if ('upgrades' in answer) return answer.upgrades;
  throw new UpgradesUnavailable('it answered one upgrade to list');
}
