/**
 * How many processes of each service `npm start` runs (`--instances gateway=2,provisioner=2` or
 * STACK_INSTANCES), and the ports each one gets. Pure.
 *
 * Port rule: instance k (1-based) of a service serves its health and metrics on the service's
 * port + 100 x (k - 1) (provisioner: 3001, 3101, 3201). Gateways are the exception: all of them
 * share PORT for the API (the kernel spreads connections between them, SO_REUSEPORT), so with
 * more than one, gateway k also serves health and metrics alone on METRICS_PORT = PORT + 100 x k
 * (3100, 3200). Each gateway is told how many share the rate limits (RATE_LIMIT_GATEWAYS).
 */
import type { TtmService } from './ttmServices.js';

/** The most instances of one service `npm start` runs (a 2-core machine runs out well before). */
export const MAX_INSTANCES = 8;
const PORT_STEP = 100;

export class InstancesError extends Error {}

/** `gateway=2,provisioner=2` → counts by service name; names not among `known` are an error. */
export function parseInstances(spec: string, known: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const part of spec.split(',')) {
    const item = part.trim();
    if (!item) continue;
    const match = /^([a-z]+)=(\d+)$/.exec(item);
    if (!match)
      throw new InstancesError(`instances: "${item}" is not <service>=<count> (e.g. gateway=2,provisioner=2)`);
    const [, name, raw] = match as unknown as [string, string, string];
    if (!known.includes(name))
      throw new InstancesError(`instances: unknown service "${name}" (one of ${known.join(', ')})`);
    const count = Number(raw);
    if (count < 1 || count > MAX_INSTANCES) {
      throw new InstancesError(`instances: ${name}=${count} is out of range (1 to ${MAX_INSTANCES})`);
    }
    counts.set(name, count);
  }
  return counts;
}

/** The `--instances` value of the command line, else STACK_INSTANCES, else ''. */
export function instancesSpec(argv: readonly string[], env: NodeJS.ProcessEnv): string {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--instances') return argv[i + 1] ?? '';
    if (arg.startsWith('--instances=')) return arg.slice('--instances='.length);
  }
  return env.STACK_INSTANCES ?? '';
}

/** One process `npm start` runs and supervises. */
export interface ServiceInstance extends TtmService {
  /** 1-based. */
  instance: number;
  /** `provisioner`, or `provisioner#2` from the second on. */
  label: string;
  /** Environment of this process on top of the stack's. */
  env: Record<string, string>;
}

export function expandInstances(
  services: readonly TtmService[],
  counts: ReadonlyMap<string, number>,
  env: NodeJS.ProcessEnv = {},
): ServiceInstance[] {
  const out: ServiceInstance[] = [];
  for (const service of services) {
    const count = counts.get(service.name) ?? 1;
    for (let k = 1; k <= count; k++) {
      const label = k === 1 ? service.name : `${service.name}#${k}`;
      if (service.name === 'gateway') {
        if (count === 1) {
          out.push({ ...service, instance: k, label, env: {} });
          continue;
        }
        const metricsPort = service.port + PORT_STEP * k;
        out.push({
          ...service,
          portVariable: 'METRICS_PORT',
          port: metricsPort,
          instance: k,
          label,
          env: {
            REUSE_PORT: 'true',
            METRICS_PORT: String(metricsPort),
            RATE_LIMIT_GATEWAYS: env.RATE_LIMIT_GATEWAYS ?? String(count),
          },
        });
        continue;
      }
      const port = service.port + PORT_STEP * (k - 1);
      out.push({ ...service, port, instance: k, label, env: k === 1 ? {} : { [service.portVariable]: String(port) } });
    }
  }
  return out;
}
