import { Command } from 'commander';
import pc from 'picocolors';
import { contextOf, type Environment, withJson } from '../context.js';
import { exitCodes } from '../errors.js';
import { pingServices, type ServiceInstance } from '../natsDiscovery.js';
import { probeReadiness, type Readiness, serviceUrls } from '../readiness.js';
import { json, status, table } from '../render.js';

interface ServiceHealth {
  service: string;
  nats: ServiceInstance[];
  ready: Readiness | null;
}

export function healthCommand(env: Environment): Command {
  return withJson(
    new Command('health')
      .description("every service's NATS discovery answer and HTTP readiness; exits 1 if any is not ready")
      .option('--nats <url>', 'NATS server (default: NATS_URL or nats://127.0.0.1:4222)'),
  ).action(async (options: { nats?: string }, command: Command) => {
    const ctx = contextOf(command, env);
    const natsUrl = options.nats ?? env.natsUrl ?? 'nats://127.0.0.1:4222';
    const urls = serviceUrls(ctx.client.baseUrl, env.healthUrls);
    const [discovery, probes] = await Promise.all([
      pingServices(natsUrl).then(
        (instances) => ({ instances, error: undefined }),
        (error: unknown) => ({ instances: [], error: error instanceof Error ? error.message : String(error) }),
      ),
      Promise.all([...urls].map(async ([service, url]) => [service, await probeReadiness(url)] as const)),
    ]);
    const services = combine(probes, discovery.instances);
    const ready = services.every((s) => s.ready === null || s.ready.status === 200);
    if (!ready) process.exitCode = exitCodes.failure;
    if (ctx.json) {
      console.log(json({ ready, nats: { url: natsUrl, error: discovery.error ?? null }, services }));
      return;
    }
    const noAnswer = discovery.error ? 'nats unreachable' : 'no answer';
    console.log(
      table(
        ['SERVICE', 'NATS', 'READY', 'CHECKS'],
        services.map((s) => [
          s.service,
          s.nats.length ? s.nats.map((i) => `${i.id}/${i.version}`).join(', ') : noAnswer,
          s.ready ? readyCell(s.ready) : '-',
          s.ready ? checksCell(s.ready) : '',
        ]),
      ),
    );
    if (discovery.error) console.error(`tenant-cli: cannot reach NATS at ${natsUrl}: ${discovery.error}`);
  });
}

/** One row per configured service, plus any other `ttm-*` service NATS knows of. */
function combine(probes: (readonly [string, Readiness])[], instances: ServiceInstance[]): ServiceHealth[] {
  const named = (service: string) => instances.filter((i) => i.name === `ttm-${service}` || i.name === service);
  const rows: ServiceHealth[] = probes.map(([service, ready]) => ({ service, nats: named(service), ready }));
  const known = new Set(rows.flatMap((r) => r.nats));
  for (const instance of instances) {
    if (known.has(instance) || !instance.name.startsWith('ttm-')) continue;
    const service = instance.name.slice('ttm-'.length);
    const row = rows.find((r) => r.service === service && r.ready === null);
    if (row) row.nats.push(instance);
    else rows.push({ service, nats: [instance], ready: null });
  }
  return rows;
}

function readyCell(ready: Readiness): string {
  return ready.status === 200 ? pc.green('200') : pc.red(String(ready.status));
}

function checksCell(ready: Readiness): string {
  if (ready.error) return ready.error;
  return Object.entries(ready.checks)
    .map(([name, result]) => `${name} ${status(result)}`)
    .join(', ');
}
