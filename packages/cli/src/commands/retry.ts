import { Command } from 'commander';
import type { Tenant } from '../api.js';
import { contextOf, type Environment, withJson } from '../context.js';
import { json, status } from '../render.js';
import { resolveTenantId, tenantPath } from '../tenantRef.js';

export function retryCommand(env: Environment): Command {
  return withJson(
    new Command('retry')
      .description(
        'provision a failed tenant again, from the step where it stopped (or from the start if it was rolled back)',
      )
      .argument('<tenant>', 'tenant id or slug'),
  ).action(async (ref: string, _options: unknown, command: Command) => {
    const ctx = contextOf(command, env);
    const id = await resolveTenantId(ctx.client, ref);
    const tenant = await ctx.client.post<Tenant>(`${tenantPath(id)}/retry`, {}, { admin: true });
    console.log(
      ctx.json
        ? json(tenant)
        : `${tenant.slug ?? tenant.id} (${tenant.id}) is ${status(tenant.status)}; follow it with \`tenant-cli show ${tenant.id}\``,
    );
  });
}
