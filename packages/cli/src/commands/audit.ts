import { Command } from 'commander';
import type { AuditEntry, Page } from '../api.js';
import { contextOf, type Environment, withJson } from '../context.js';
import { positiveInteger } from '../options.js';
import { compact, json, status, table } from '../render.js';
import { resolveTenantId } from '../tenantRef.js';
import { formatTime, parseSince } from '../time.js';

interface AuditOptions {
  tenant?: string;
  actor?: string;
  action?: string;
  since?: string;
  limit?: number;
}

export function auditCommand(env: Environment): Command {
  return withJson(
    new Command('audit')
      .description('who did what, when, from where, with what outcome; newest first')
      .option('--tenant <tenant>', 'only entries about this tenant (id or slug)')
      .option('--actor <id>', 'only entries by this actor')
      .option('--action <action>', 'only this action, e.g. tenant.suspend')
      .option('--since <when>', 'only entries after a time (ISO) or an age back from now (1h, 24h, 7d)')
      .option('--limit <n>', 'at most this many entries', positiveInteger),
  ).action(async (options: AuditOptions, command: Command) => {
    const ctx = contextOf(command, env);
    const from = options.since === undefined ? undefined : parseSince(options.since, new Date());
    const page = await ctx.client.get<Page<AuditEntry>>('/api/admin/audit', {
      admin: true,
      query: {
        tenant: options.tenant && (await resolveTenantId(ctx.client, options.tenant)),
        actor: options.actor,
        action: options.action,
        from,
        limit: options.limit,
      },
    });
    if (ctx.json) {
      console.log(json(page));
      return;
    }
    console.log(
      table(
        ['TIME', 'ACTOR', 'ACTION', 'TARGET', 'OUTCOME', 'CLIENT', 'DETAIL'],
        page.items.map((e) => [
          formatTime(e.time),
          e.actor.id ? `${e.actor.kind}:${e.actor.id}` : e.actor.kind,
          e.action,
          e.target,
          status(e.outcome),
          e.client_address,
          compact(e.detail, 60),
        ]),
      ),
    );
    if (page.next_cursor) console.error(`more entries: narrow with --since, --action or a larger --limit`);
  });
}
