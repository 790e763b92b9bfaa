import { Command } from 'commander';
import type { AcceptedOperation } from '../api.js';
import { contextOf, type Environment, withJson } from '../context.js';
import { followOperation } from '../operations.js';
import { positiveNumber } from '../options.js';
import { json, keyValue, status } from '../render.js';
import { resolveTenantId, tenantPath } from '../tenantRef.js';
import { formatDuration, formatTime } from '../time.js';
import { acceptedTable, report } from './backup.js';

interface MigrateOptions {
  region?: string;
  cluster?: string;
  wait: boolean;
  timeout: number;
}

/** `migrate <tenant> [--region r] [--cluster c]`: move a tenant's data, following the saga's steps. */
export function migrateCommand(env: Environment): Command {
  return withJson(
    new Command('migrate')
      .description("move a tenant's data to another cluster or region (writes frozen briefly), with live progress")
      .argument('<tenant>', 'tenant id or slug')
      .option('--region <region>', "target region (default: the tenant's)")
      .option('--cluster <cluster>', 'target cluster (default: the one with the most room in the region)')
      .option('--no-wait', 'return as soon as the migration is accepted')
      .option('--timeout <seconds>', 'stop waiting after this many seconds', positiveNumber, 3_600),
  ).action(async (ref: string, options: MigrateOptions, command: Command) => {
    const ctx = contextOf(command, env);
    const id = await resolveTenantId(ctx.client, ref);
    const accepted = await ctx.client.post<AcceptedOperation>(
      `${tenantPath(id)}/migrate`,
      {
        ...(options.region ? { target_region: options.region } : {}),
        ...(options.cluster ? { target_cluster: options.cluster } : {}),
      },
      { admin: true },
    );
    if (!options.wait) {
      console.log(ctx.json ? json(accepted) : acceptedTable(accepted));
      return;
    }
    const { final, durationMs } = await followOperation(
      ctx,
      accepted.operation_id,
      'migration',
      options.timeout * 1_000,
    );
    const place = (p: Record<string, unknown> | null | undefined) =>
      p ? `${String(p.cluster ?? '?')} (${String(p.region ?? '?')})` : null;
    const result = final.result ?? {};
    report(ctx, final, durationMs, `migration ${accepted.operation_id} of tenant ${id}`, () =>
      keyValue([
        ['MIGRATION', accepted.operation_id],
        ['TENANT', id],
        ['FROM', place(final.source ?? (result.source as Record<string, unknown> | undefined))],
        ['TO', place(final.target ?? (result.target as Record<string, unknown> | undefined))],
        ['STATUS', status(final.status)],
        ['ROWS', typeof result.rows === 'number' ? result.rows.toLocaleString('en') : null],
        ['FROZEN', typeof result.freeze_ms === 'number' ? formatDuration(result.freeze_ms) : null],
        ['TOOK', formatDuration(durationMs)],
        ['OLD COPY', oldCopy(result)],
      ]),
    );
  });
}

/** What became of the data at the old placement: removed, or when it will be. */
function oldCopy(result: Record<string, unknown>): string | null {
  if (typeof result.source_removed_at === 'string') return `removed ${formatTime(result.source_removed_at)}`;
  if (typeof result.source_removal_due_at === 'string') return `kept until ${formatTime(result.source_removal_due_at)}`;
  return null;
}
