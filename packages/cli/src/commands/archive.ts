import { Command } from 'commander';
import type { AcceptedOperation, Tenant } from '../api.js';
import { type Context, contextOf, type Environment, withJson } from '../context.js';
import { followOperation } from '../operations.js';
import { json, keyValue, status } from '../render.js';
import { resolveTenantId, tenantPath } from '../tenantRef.js';
import { formatDuration } from '../time.js';
import { acceptedTable, headersOf, report, type WaitOptions, waitOptions } from './backup.js';

/** `archive <tenant>`: verified backup, workspace dropped; followed until the tenant is archived. */
export function archiveCommand(env: Environment): Command {
  return withJson(
    waitOptions(
      new Command('archive')
        .description(
          'archive an active tenant: back it up and verify it, then drop its workspace schema (its next sign-in brings it back)',
        )
        .argument('<tenant>', 'tenant id or slug'),
    ),
  ).action(async (ref: string, options: WaitOptions, command: Command) => {
    const ctx = contextOf(command, env);
    const id = await resolveTenantId(ctx.client, ref);
    const accepted = await ctx.client.post<AcceptedOperation>(`${tenantPath(id)}/archive`, undefined, {
      admin: true,
      headers: headersOf(options),
    });
    await follow(ctx, accepted, options, id, 'archived', `archive of tenant ${id}`);
  });
}

/** `unarchive <tenant>`: the in-place restore of its archive backup, as its next sign-in would start. */
export function unarchiveCommand(env: Environment): Command {
  return withJson(
    waitOptions(
      new Command('unarchive')
        .description('bring an archived tenant back now (the restore its next sign-in would start), with live progress')
        .argument('<tenant>', 'tenant id or slug'),
    ),
  ).action(async (ref: string, options: WaitOptions, command: Command) => {
    const ctx = contextOf(command, env);
    const id = await resolveTenantId(ctx.client, ref);
    const accepted = await ctx.client.post<AcceptedOperation>(`${tenantPath(id)}/unarchive`, undefined, {
      admin: true,
      headers: headersOf(options),
    });
    await follow(ctx, accepted, options, id, 'active', `restore of archived tenant ${id}`);
  });
}

/** Follow the operation, then wait for the tenant to reach `target` (the archive drops the schema after its backup). */
async function follow(
  ctx: Context,
  accepted: AcceptedOperation,
  options: WaitOptions,
  id: string,
  target: string,
  what: string,
): Promise<void> {
  if (!options.wait) {
    console.log(ctx.json ? json(accepted) : acceptedTable(accepted));
    return;
  }
  const deadline = Date.now() + options.timeout * 1_000;
  const { final, durationMs } = await followOperation(ctx, accepted.operation_id, what, options.timeout * 1_000);
  let tenant = await ctx.client.get<Tenant>(tenantPath(id), { admin: true });
  while (final.status === 'succeeded' && tenant.status !== target && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    tenant = await ctx.client.get<Tenant>(tenantPath(id), { admin: true });
  }
  report(ctx, final, durationMs, what, () =>
    keyValue([
      ['TENANT', id],
      ['STATUS', status(tenant.status)],
      ['OPERATION', accepted.operation_id],
      ['TOOK', formatDuration(durationMs)],
    ]),
  );
}
