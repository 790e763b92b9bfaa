import { Command } from 'commander';
import type { IdleTenantPage } from '../api.js';
import { contextOf, type Environment, withJson } from '../context.js';
import { json, table } from '../render.js';
import { resolveTenantId } from '../tenantRef.js';
import { formatTime } from '../time.js';

/** `idle [tenant]`: tenants idle past their plan days (archived by the next sweeps), or one tenant's last activity. */
export function idleCommand(env: Environment): Command {
  return withJson(
    new Command('idle')
      .description(
        "tenants idle past their plan's days (the idle sweep archives them), longest idle first; --all for every active tenant's last activity",
      )
      .argument('[tenant]', 'tenant id or slug: its last activity and verdict')
      .option('--all', 'every active tenant, not only the idle ones')
      .option('--limit <n>', 'at most this many', '100'),
  ).action(async (ref: string | undefined, options: { all?: boolean; limit: string }, command: Command) => {
    const ctx = contextOf(command, env);
    const params = new URLSearchParams({ limit: options.limit });
    if (options.all) params.set('all', 'true');
    if (ref) params.set('tenant', await resolveTenantId(ctx.client, ref));
    const page = await ctx.client.get<IdleTenantPage>(`/api/admin/tenants/idle?${params}`, { admin: true });
    if (ctx.json) {
      console.log(json(page));
      return;
    }
    console.log(
      table(
        ['TENANT', 'PLAN', 'DAYS', 'LAST ACTIVITY', 'LAST SIGN-IN', 'LAST API CALL', 'IDLE AT', 'VERDICT'],
        page.items.map((t) => [
          t.tenant_id,
          t.plan,
          t.idle_days === 0 ? 'never' : t.idle_days,
          formatTime(t.last_activity_at),
          formatTime(t.last_sign_in_at),
          formatTime(t.last_api_call_at),
          formatTime(t.idle_at),
          t.verdict,
        ]),
      ),
    );
    console.log(`${page.idle} idle past their plan days${page.truncated ? ' (list truncated: --limit)' : ''}`);
  });
}
