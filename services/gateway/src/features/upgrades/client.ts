import type { NatsConnection } from '@nats-io/transport-node';
import { UpgradeQuerySubjects, UpgradeReply, type UpgradeRequest, type UpgradeView } from '@ttm/contracts';
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

/**
 * Ask the provisioner (`query.provisioner.upgrades`); its refusals become problems. The gateway
 * never reads the provisioner's upgrade tables.
 */
export async function askUpgrades(
  nc: NatsConnection,
  request: UpgradeRequest,
  timeoutMs = UPGRADES_REQUEST_TIMEOUT_MS,
): Promise<UpgradeView> {
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
  if (reply.ok) return reply.result;
  const { code, message } = reply.error;
  if (code === 'unknown-version') throw new UnknownSchemaVersion(message);
  if (code === 'not-found') throw new UpgradeNotFound(message);
  if (code === 'conflict') throw new UpgradeConflict(message);
  if (code === 'bad-request') throw new UpgradeBadRequest(message);
  throw new UpgradesUnavailable(message);
}
