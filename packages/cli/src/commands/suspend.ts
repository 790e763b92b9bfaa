import { Command } from 'commander';
import type { Tenant } from '../api.js';
import { contextOf, type Environment, withJson } from '../context.js';
import { json, status } from '../render.js';
import { resolveTenantId, tenantPath } from '../tenantRef.js';

export function suspendCommand(env: Environment): Command {
  return withJson(
    new Command('suspend')
      .description('suspend a tenant: its users can no longer log in or call the API')
      .argument('<tenant>', 'tenant id or slug')
      .requiredOption('--reason <text>', 'why, for the audit log and the tenant timeline'),
  ).action(async (ref: string, options: { reason: string }, command: Command) => {
    const ctx = contextOf(command, env);
    const id = await resolveTenantId(ctx.client, ref);
    const tenant = await ctx.client.post<Tenant>(
      `${tenantPath(id)}/suspend`,
      { reason: options.reason },
      { admin: true },
    );
    console.log(ctx.json ? json(tenant) : `${tenant.slug ?? tenant.id} (${tenant.id}) is ${status(tenant.status)}`);
  });
}
