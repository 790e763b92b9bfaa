import { Command } from 'commander';
import type { TenantDetail } from '../api.js';
import { contextOf, type Environment, withJson } from '../context.js';
import { compact, formatBytes, heading, json, keyValue, status, table } from '../render.js';
import { resolveTenantId, tenantPath } from '../tenantRef.js';
import { formatDuration, formatTime } from '../time.js';

export function showCommand(env: Environment): Command {
  return withJson(
    new Command('show')
      .description('show one tenant: its record, placement, quotas, provisioning and timeline')
      .argument('<tenant>', 'tenant id or slug'),
  ).action(async (ref: string, _options: unknown, command: Command) => {
    const ctx = contextOf(command, env);
    const id = await resolveTenantId(ctx.client, ref);
    const tenant = await ctx.client.get<TenantDetail>(tenantPath(id), { admin: true });
    console.log(ctx.json ? json(tenant) : describeTenant(tenant));
  });
}

function describeTenant(t: TenantDetail): string {
  const p = t.provisioning;
  const record = keyValue([
    ['ID', t.id],
    ['NAME', t.organization_name],
    ['SLUG', t.slug],
    ['ADMIN', t.admin_email],
    ['PLAN', t.plan],
    ['REGION', t.region],
    ['STATUS', status(t.status)],
    ['REGISTERED', formatTime(t.registered_at)],
    ['UPDATED', formatTime(t.updated_at)],
    [
      'PLACEMENT',
      t.placement &&
        `${t.placement.cluster} (${t.placement.region}), ${t.placement.kind} ${t.placement.database}.${t.placement.schema}`,
    ],
    [
      'QUOTAS',
      t.quotas &&
        `${t.quotas.users} users, ${formatBytes(t.quotas.storage_bytes)} storage, ` +
          `${t.quotas.api_calls_per_month.toLocaleString('en')} API calls/month`,
    ],
    ['PROVISIONING', p && `${p.status} ${p.progress}%${p.step ? ` (${p.step})` : ''}`],
    ['TOOK', p?.duration_ms == null ? null : formatDuration(p.duration_ms)],
    ...(p?.error ? [['ERROR', p.error] as [string, string]] : []),
  ]);
  const timeline = table(
    ['SEQ', 'TIME', 'TYPE', 'DATA'],
    t.timeline.map((e) => [e.seq, formatTime(e.time), e.type, compact(e.data)]),
  );
  return `${record}\n${heading('Timeline')}\n${timeline}`;
}
