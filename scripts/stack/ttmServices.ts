/** The control-plane services, their HTTP ports and how to ask whether they are ready. */

import { createServer } from 'node:net';
import type { ServiceName } from '@ttm/contracts';
import { sleep } from './processes.js';

export interface TtmService {
  name: ServiceName;
  /** The variable holding its HTTP port (health, metrics; the gateway's API too). */
  portVariable: string;
  port: number;
  /** The entry point, relative to the repository. */
  main: string;
  /** Node.js options it runs with, before the loader. */
  nodeArgs?: readonly string[];
}

/**
 * The provisioner runs fleet schema upgrades: with V8's default, its young generation grew from
 * 32 to 128 MB over an upgrade of 10,000 workspaces (93 MB of RSS, a flat live heap); capped at
 * 16 MB semi-spaces the RSS grew 23 MB (bench/upgrade.ts).
 */
const nodeArgsOf: Partial<Record<ServiceName, readonly string[]>> = { provisioner: ['--max-semi-space-size=16'] };

/** Same defaults as packages/service-kit/src/config.ts `servicePorts`. */
const table: readonly { name: ServiceName; portVariable: string; defaultPort: number }[] = [
  { name: 'gateway', portVariable: 'PORT', defaultPort: 3000 },
  { name: 'provisioner', portVariable: 'PROVISIONER_PORT', defaultPort: 3001 },
  { name: 'metering', portVariable: 'METERING_PORT', defaultPort: 3002 },
  { name: 'quota', portVariable: 'QUOTA_PORT', defaultPort: 3003 },
  { name: 'backup', portVariable: 'BACKUP_PORT', defaultPort: 3004 },
  { name: 'webhooks', portVariable: 'WEBHOOKS_PORT', defaultPort: 3005 },
];

export function ttmServicesFromEnv(env: NodeJS.ProcessEnv = process.env): TtmService[] {
  return table.map(({ name, portVariable, defaultPort }) => {
    const raw = env[portVariable];
    const port = raw ? Number(raw) : defaultPort;
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new Error(`${portVariable} "${raw}" is not a port number: fix ${portVariable}`);
    }
    const nodeArgs = nodeArgsOf[name];
    return { name, portVariable, port, main: `services/${name}/src/main.ts`, ...(nodeArgs ? { nodeArgs } : {}) };
  });
}

export const httpBase = (service: TtmService) => `http://127.0.0.1:${service.port}`;

/** The HTTP status of /health/ready, or 'no answer'. */
export async function readiness(service: TtmService): Promise<number | 'no answer'> {
  try {
    const response = await fetch(`${httpBase(service)}/health/ready`, { signal: AbortSignal.timeout(2_000) });
    await response.arrayBuffer().catch(() => undefined);
    return response.status;
  } catch {
    return 'no answer';
  }
}

export interface ReadinessReport {
  ready: boolean;
  elapsedMs: number;
  /** Services not answering 200, with what they answered. */
  notReady: { service: TtmService; status: number | 'no answer' }[];
}

/** Poll /health/ready of every service until all answer 200, `timeoutMs` passes or `signal` aborts. */
export async function waitUntilReady(
  services: TtmService[],
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<ReadinessReport> {
  const started = Date.now();
  for (;;) {
    const statuses = await Promise.all(
      services.map(async (service) => ({ service, status: await readiness(service) })),
    );
    const notReady = statuses.filter(({ status }) => status !== 200);
    const elapsedMs = Date.now() - started;
    if (notReady.length === 0 || elapsedMs >= timeoutMs || signal?.aborted) {
      return { ready: notReady.length === 0, elapsedMs, notReady };
    }
    await sleep(500, signal);
  }
}

export function describeNotReady(report: ReadinessReport): string {
  return report.notReady
    .map(({ service, status }) => `${service.name} (${status === 'no answer' ? 'no answer' : `HTTP ${status}`})`)
    .join(', ');
}

/** Ports among the services' that something already listens on. */
export async function portsInUse(services: TtmService[]): Promise<TtmService[]> {
  const busy: TtmService[] = [];
  for (const service of services) {
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen({ port: service.port, host: '0.0.0.0', exclusive: true }, () => server.close(() => resolve(true)));
    });
    if (!free) busy.push(service);
  }
  return busy;
}
