import { Command } from 'commander';
import type { Stats } from '../api.js';
import { contextOf, type Environment, withJson } from '../context.js';
import { heading, json, keyValue, table } from '../render.js';
import { formatDuration } from '../time.js';

export function statsCommand(env: Environment): Command {
  return withJson(new Command('stats').description('fleet totals and provisioning figures')).action(
    async (_options: unknown, command: Command) => {
      const ctx = contextOf(command, env);
      const stats = await ctx.client.get<Stats>('/api/admin/stats', { admin: true });
      console.log(ctx.json ? json(stats) : describeStats(stats));
    },
  );
}

function describeStats({ tenants, provisioning }: Stats): string {
  const seconds = (s: number | null) => (s === null ? null : formatDuration(s * 1_000));
  const d = provisioning.duration_seconds;
  return [
    keyValue([
      ['TENANTS', tenants.total],
      ['QUEUE', provisioning.queue_depth],
      ['PROVISIONED', provisioning.completed],
      ['FAILED', provisioning.failed],
      ['DURATION', `p50 ${seconds(d.p50) ?? '-'}, p95 ${seconds(d.p95) ?? '-'}, p99 ${seconds(d.p99) ?? '-'}`],
    ]),
    breakdown('By status', 'STATUS', tenants.by_status),
    breakdown('By plan', 'PLAN', tenants.by_plan),
    breakdown('By region', 'REGION', tenants.by_region),
  ].join('\n');
}

function breakdown(title: string, column: string, counts: Record<string, number>): string {
  const rows = Object.entries(counts).sort(([, a], [, b]) => b - a);
  return `${heading(title)}\n${table([column, 'TENANTS'], rows)}`;
}
