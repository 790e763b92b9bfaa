import Fastify, { type FastifyInstance, type FastifyPluginAsync } from 'fastify';
import type { Registry } from 'prom-client';

/** A dependency check: resolves true when the dependency is usable right now. Must be quick. */
export type ReadinessCheck = () => boolean | Promise<boolean>;

export class HealthChecks {
  private readonly checks = new Map<string, ReadinessCheck>();
  private stopping = false;

  add(name: string, check: ReadinessCheck): this {
    this.checks.set(name, check);
    return this;
  }

  /** After this, readiness is false: load balancers stop sending work while we drain. */
  markStopping(): void {
    this.stopping = true;
  }

  async evaluate(timeoutMs = 1_000): Promise<{ ready: boolean; checks: Record<string, 'ok' | 'down'> }> {
    const results: Record<string, 'ok' | 'down'> = {};
    await Promise.all(
      [...this.checks].map(async ([name, check]) => {
        results[name] = (await withTimeout(check, timeoutMs)) ? 'ok' : 'down';
      }),
    );
    const ready = !this.stopping && Object.values(results).every((r) => r === 'ok');
    return { ready, checks: results };
  }
}

async function withTimeout(check: ReadinessCheck, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      Promise.resolve().then(check),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), ms);
      }),
    ]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

export interface OpsRoutesOptions {
  service: string;
  health: HealthChecks;
  metrics: Registry;
}

/** `/health/live`, `/health/ready` and `/metrics`, as a fastify plugin any service can mount. */
export const opsRoutes: FastifyPluginAsync<OpsRoutesOptions> = async (app, { service, health, metrics }) => {
  app.get('/health/live', async () => ({ status: 'live', service }));
  app.get('/health/ready', async (_request, reply) => {
    const { ready, checks } = await health.evaluate();
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', service, checks });
  });
  app.get('/metrics', async (_request, reply) => {
    const body = await metrics.metrics();
    return reply.header('content-type', metrics.contentType).send(body);
  });
};

/** A small HTTP server with only the ops routes, for services that serve nothing else over HTTP. */
export async function startOpsServer(
  options: OpsRoutesOptions & { port: number; host?: string },
): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  await app.register(opsRoutes, options);
  await app.listen({ port: options.port, host: options.host ?? '0.0.0.0' });
  return app;
}
