import { Command } from 'commander';
import type { AcceptedOperation, BackupItem } from '../api.js';
import { type Context, contextOf, type Environment, withJson } from '../context.js';
import { exitCodes } from '../errors.js';
import { followOperation, type OperationState } from '../operations.js';
import { positiveNumber } from '../options.js';
import { formatBytes, json, keyValue, status, table } from '../render.js';
import { resolveTenantId, tenantPath } from '../tenantRef.js';
import { formatDuration, formatTime } from '../time.js';

export interface WaitOptions {
  wait: boolean;
  timeout: number;
  idempotencyKey?: string;
}

export const waitOptions = (command: Command) =>
  command
    .option('--idempotency-key <key>', 'makes a retry safe: the same key names the same operation, done once')
    .option('--no-wait', 'return as soon as the request is accepted')
    .option('--timeout <seconds>', 'stop waiting after this many seconds', positiveNumber, 3_600);

export const headersOf = (options: WaitOptions): Record<string, string> =>
  options.idempotencyKey ? { 'idempotency-key': options.idempotencyKey } : {};

/** `backup <tenant>`: take a backup now and follow it to the end. */
export function backupCommand(env: Environment): Command {
  return withJson(
    waitOptions(
      new Command('backup')
        .description('back up a tenant now (workspace schema and core rows at one instant), with live progress')
        .argument('<tenant>', 'tenant id or slug'),
    ),
  ).action(async (ref: string, options: WaitOptions, command: Command) => {
    const ctx = contextOf(command, env);
    const id = await resolveTenantId(ctx.client, ref);
    const accepted = await ctx.client.post<AcceptedOperation>(`${tenantPath(id)}/backups`, undefined, {
      admin: true,
      headers: headersOf(options),
    });
    if (!options.wait) {
      console.log(ctx.json ? json(accepted) : acceptedTable(accepted));
      return;
    }
    const { final, durationMs } = await followOperation(ctx, accepted.operation_id, 'backup', options.timeout * 1_000);
    const backupId = accepted.backup_id ?? accepted.operation_id;
    const backup =
      final.status === 'succeeded'
        ? await ctx.client.get<BackupItem>(`/api/admin/backups/${encodeURIComponent(backupId)}`, { admin: true })
        : undefined;
    report(
      ctx,
      final,
      durationMs,
      `backup ${backupId} of tenant ${id}`,
      () =>
        keyValue([
          ['BACKUP', backupId],
          ['TENANT', id],
          ['STATUS', status(backup?.status ?? final.status)],
          ['SIZE', backup?.size_bytes == null ? null : formatBytes(backup.size_bytes)],
          ['ROWS', backup?.rows?.toLocaleString('en')],
          ['SNAPSHOT', formatTime(backup?.snapshot_at)],
          ['TOOK', formatDuration(durationMs)],
        ]),
      backup ? { backup: stripManifest(backup) } : {},
    );
  });
}

/** `backups <tenant>`: the tenant's backups, newest first. */
export function backupsCommand(env: Environment): Command {
  return withJson(
    new Command('backups')
      .description("list a tenant's backups, newest first")
      .argument('<tenant>', 'tenant id or slug')
      .option('--all', 'include deleted backups'),
  ).action(async (ref: string, options: { all?: boolean }, command: Command) => {
    const ctx = contextOf(command, env);
    const id = await resolveTenantId(ctx.client, ref);
    const list = await ctx.client.get<{ items: BackupItem[] }>(`${tenantPath(id)}/backups`, {
      admin: true,
      query: { include_deleted: options.all ? 'true' : undefined },
    });
    if (ctx.json) {
      console.log(json(list));
      return;
    }
    if (list.items.length === 0) {
      console.error(`tenant ${id} has no backups${options.all ? '' : ' (add --all for deleted ones)'}`);
      return;
    }
    console.log(
      table(
        ['ID', 'STATUS', 'TRIGGER', 'CREATED', 'TOOK', 'SIZE', 'ROWS', 'VERIFIED'],
        list.items.map((b) => [
          b.id,
          status(b.status),
          b.trigger,
          formatTime(b.created_at),
          b.duration_ms == null ? null : formatDuration(b.duration_ms),
          b.size_bytes == null ? null : formatBytes(b.size_bytes),
          b.rows?.toLocaleString('en'),
          b.verification ? status(b.verification.result) : null,
        ]),
      ),
    );
  });
}

interface RestoreOptions extends WaitOptions {
  backup: string;
  clone?: boolean;
  target?: string;
  region?: string;
}

/** `restore <tenant> --backup <id> [--clone]`: restore in place (default) or into a new tenant. */
export function restoreCommand(env: Environment): Command {
  return withJson(
    waitOptions(
      new Command('restore')
        .description(
          'restore a backup of a tenant, in place or (--clone) into a new inactive tenant, with live progress',
        )
        .argument('<tenant>', 'tenant id or slug')
        .requiredOption('--backup <id>', 'the backup to restore (see: tenant-cli backups <tenant>)')
        .option('--clone', 'restore into a new tenant next to it instead of replacing its data')
        .option('--target <tenant-id>', 'with --clone: the new tenant id (default: the restore id)')
        .option('--region <region>', "where to restore: only the tenant's own region is accepted (the default)"),
    ),
  ).action(async (ref: string, options: RestoreOptions, command: Command) => {
    const ctx = contextOf(command, env);
    const id = await resolveTenantId(ctx.client, ref);
    const mode = options.clone ? 'clone' : 'in-place';
    const accepted = await ctx.client.post<AcceptedOperation>(
      `${tenantPath(id)}/restore`,
      {
        backup_id: options.backup,
        mode,
        ...(options.clone && options.target ? { target_tenant_id: options.target } : {}),
        ...(options.region ? { target_region: options.region } : {}),
      },
      { admin: true, headers: headersOf(options) },
    );
    if (!options.wait) {
      console.log(ctx.json ? json(accepted) : acceptedTable(accepted));
      return;
    }
    const { final, durationMs } = await followOperation(ctx, accepted.operation_id, 'restore', options.timeout * 1_000);
    report(ctx, final, durationMs, `restore ${accepted.operation_id} of backup ${options.backup}`, () =>
      keyValue([
        ['RESTORE', accepted.operation_id],
        ['BACKUP', options.backup],
        ['MODE', mode],
        ['TARGET', accepted.target_tenant_id ?? id],
        ['STATUS', status(final.status)],
        ['TOOK', formatDuration(durationMs)],
      ]),
    );
  });
}

/** The outcome of a followed operation: a table or JSON on stdout; a failure is one line on stderr and exit 1. */
export function report(
  ctx: Context,
  final: OperationState,
  durationMs: number,
  what: string,
  table: () => string,
  extra: Record<string, unknown> = {},
): void {
  const failed = final.status === 'failed';
  if (failed) process.exitCode = exitCodes.failure;
  if (ctx.json) console.log(json({ ...final, duration_ms: Math.round(durationMs), ...extra }));
  else if (failed) console.error(`tenant-cli: ${what} failed: ${final.error ?? 'no reason given'}`);
  else console.log(table());
}

export function acceptedTable(accepted: AcceptedOperation): string {
  return keyValue([
    ['OPERATION', accepted.operation_id],
    ...(accepted.backup_id ? [['BACKUP', accepted.backup_id] as [string, string]] : []),
    ...(accepted.target_tenant_id ? [['TARGET', accepted.target_tenant_id] as [string, string]] : []),
    ['FOLLOW', `/api/operations/${accepted.operation_id}`],
  ]);
}

function stripManifest(backup: BackupItem & { manifest?: unknown }): BackupItem {
  const { manifest: _manifest, ...rest } = backup;
  return rest;
}
