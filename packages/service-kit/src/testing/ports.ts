import { readFileSync } from 'node:fs';
import getPort from 'get-port';

/**
 * The first port the kernel hands out as the local end of an outgoing connection. A server
 * started (or restarted) on a port above it can find that port taken by any client socket on the
 * machine: a PostgreSQL or NATS connection of another test holds it for as long as it lives.
 */
function ephemeralFloor(): number {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/);
    const floor = Number(low);
    if (Number.isInteger(floor) && floor > 12_000) return floor;
  } catch {
    // not Linux: the IANA dynamic range starts at 49152, Linux's default at 32768
  }
  return 32_768;
}

const FLOOR = 10_000;
const CEILING = ephemeralFloor() - 1;

/**
 * A free TCP port below the ephemeral range, for a server a test starts itself. Candidates start
 * at a random place so that test files running in parallel processes rarely try the same one.
 * `headroom`: ports above it the caller also uses (e.g. instance k of a service on port + 100 (k - 1)).
 */
export async function freePort(options: { headroom?: number } = {}): Promise<number> {
  const top = CEILING - (options.headroom ?? 0);
  const span = top - FLOOR;
  const start = FLOOR + Math.floor(Math.random() * span);
  const candidates = Array.from({ length: 64 }, (_, i) => FLOOR + ((start - FLOOR + i * 97) % span));
  return getPort({ port: candidates });
}
