import { Command } from 'commander';
import type { Page, Tenant } from '../api.js';
import { contextOf, type Environment, withJson } from '../context.js';
import { positiveInteger } from '../options.js';
import { json, shortId, status, table } from '../render.js';
import { formatTime } from '../time.js';

interface ListOptions {
  status?: string;
  plan?: string;
  region?: string;
  search?: string;
  limit?: number;
  all?: boolean;
}

export function listCommand(env: Environment): Command {
  return withJson(
    new Command('list')
      .description('list tenants, newest first')
      .option('--status <status>', 'only tenants in this status (pending, provisioning, active, failed, suspended)')
      .option('--plan <plan>', 'only tenants on this plan')
      .option('--region <region>', 'only tenants in this region')
      .option('--search <text>', 'organization name, slug or admin email containing this text')
      .option('--limit <n>', 'tenants per page', positiveInteger)
      .option('--all', 'follow every page, not just the first'),
  ).action(async (options: ListOptions, command: Command) => {
    const ctx = contextOf(command, env);
    const query = {
      status: options.status,
      plan: options.plan,
      region: options.region,
      q: options.search,
      limit: options.limit,
    };
    let page = await ctx.client.get<Page<Tenant>>('/api/admin/tenants', { admin: true, query });
    const items = [...page.items];
    while (options.all && page.next_cursor) {
      const cursor = page.next_cursor;
      page = await ctx.client.get<Page<Tenant>>('/api/admin/tenants', { admin: true, query: { ...query, cursor } });
      items.push(...page.items);
    }
    if (ctx.json) {
      console.log(json({ items, next_cursor: page.next_cursor }));
      return;
    }
    console.log(
      table(
        ['ID', 'NAME', 'SLUG', 'PLAN', 'REGION', 'STATUS', 'CREATED'],
        items.map((t) => [
          shortId(t.id),
          t.organization_name,
          t.slug,
          t.plan,
          t.region,
          status(t.status),
          formatTime(t.registered_at),
        ]),
      ),
    );
    if (page.next_cursor) console.error(`${items.length} shown; more with --all or a larger --limit`);
  });
}
