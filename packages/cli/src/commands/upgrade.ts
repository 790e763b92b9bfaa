import { setTimeout as sleep } from 'node:timers/promises';
import { Command, InvalidArgumentError } from 'commander';
import type { AcceptedUpgrade, Upgrade } from '../api.js';
import { type Context, contextOf, type Environment, withJson } from '../context.js';
import { positiveInteger, positiveNumber } from '../options.js';
import { ProgressView, progressMode } from '../progressView.js';
import { json, keyValue, status, table } from '../render.js';
import { formatDuration, formatTime } from '../time.js';
import { percentDone, progressLine, upgradeSettled, wavesOf } from '../upgradeView.js';

const base = '/api/admin/upgrades';
const upgradePath = (id: string) => `${base}/${encodeURIComponent(id)}`;

function wholeSeconds(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0) throw new InvalidArgumentError('expected a whole number of seconds');
  return value;
}

function nonNegativeNumber(text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0) throw new InvalidArgumentError('expected a number, 0 or more');
  return value;
}

function percent(text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0 || value > 100)
    throw new InvalidArgumentError('expected a percentage from 0 to 100');
  return value;
}

function upgradeTable(upgrade: Upgrade): string {
  const { filters } = upgrade.spec;
  const selected = Object.entries(filters)
    .filter(([, v]) => v)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  return keyValue([
    ['UPGRADE', upgrade.upgradeId],
    ['TO VERSION', upgrade.targetVersion],
    ['ROLLS BACK', upgrade.rollbackOf],
    ['STATUS', status(upgrade.status)],
    ['WHY', upgrade.statusReason],
    ['TENANTS', `${upgrade.total}${selected ? ` (${selected})` : ''}`],
    ['WAVES', upgrade.spec.waves.map((w) => `${w.percent}%${w.soakSeconds ? `+${w.soakSeconds}s` : ''}`).join(' → ')],
    ['WAVES DONE', `${upgrade.wavesDone} of ${upgrade.spec.waves.length}`],
    ['PROGRESS', `${percentDone(upgrade)}% · ${progressLine(upgrade)}`],
    ['STARTED', formatTime(upgrade.createdAt)],
  ]);
}

function failedTable(upgrade: Upgrade): string | undefined {
  const failed = upgrade.tenants.filter((t) => t.status === 'failed');
  if (failed.length === 0) return undefined;
  return table(
    ['TENANT', 'WAVE', 'STATUS', 'ERROR'],
    failed.map((t) => [t.tenantId, t.wave + 1, status(t.status), t.error]),
  );
}

function print(ctx: Context, upgrade: Upgrade): void {
  if (ctx.json) {
    console.log(json(upgrade));
    return;
  }
  console.log(upgradeTable(upgrade));
  const failed = failedTable(upgrade);
  if (failed) console.log(`\n${failed}`);
}

/**
 * Poll the upgrade until it stops running (completed, cancelled, or paused for an operator),
 * drawing its progress with the ETA on stderr. Exits 1 unless it completed.
 */
async function watch(ctx: Context, upgradeId: string, intervalMs: number): Promise<void> {
  const view = new ProgressView(progressMode(ctx.json, process.stderr));
  const started = performance.now();
  let upgrade: Upgrade;
  try {
    for (;;) {
      upgrade = await ctx.client.get<Upgrade>(upgradePath(upgradeId), { admin: true, query: { tenants: 'none' } });
      view.update({ status: upgrade.status, progress: percentDone(upgrade), step: progressLine(upgrade) });
      if (upgradeSettled(upgrade)) break;
      await sleep(intervalMs);
    }
  } finally {
    view.stop();
  }
  const final = await ctx.client.get<Upgrade>(upgradePath(upgradeId), { admin: true, query: { tenants: 'failed' } });
  print(ctx, final);
  if (!ctx.json) console.error(`watched for ${formatDuration(performance.now() - started)}`);
  if (final.status !== 'completed') {
    process.exitCode = 1;
    if (!ctx.json)
      console.error(
        `tenant-cli: upgrade ${upgradeId} is ${final.status}${final.statusReason ? `: ${final.statusReason}` : ''}`,
      );
  }
}

interface StartOptions {
  to: number;
  waves: string;
  soak: number;
  plan?: string;
  region?: string;
  cluster?: string;
  concurrency: number;
  maxRate?: number;
  maxFailed: number;
  pauseOnCanary: boolean;
  watch: boolean;
  interval: number;
}

function start(env: Environment): Command {
  return withJson(
    new Command('start')
      .description('upgrade the workspace schemas of the fleet (or part of it) to a version, in waves')
      .requiredOption('--to <version>', 'target workspace schema version', positiveInteger)
      .option(
        '--waves <percents>',
        'cumulative share of the tenants each wave reaches, e.g. 1,10,100',
        (text: string) => wavesOf(text, 0) && text,
        '100',
      )
      .option('--soak <seconds>', 'wait after each wave but the last', wholeSeconds, 0)
      .option('--plan <plan>', 'only tenants on this plan')
      .option('--region <region>', 'only tenants in this region')
      .option('--cluster <cluster>', 'only tenants on this cluster')
      .option('--concurrency <n>', 'tenants at once per cluster (at most 4)', positiveInteger, 4)
      .option(
        '--max-rate <tenants/s>',
        "tenants started per second per cluster, at most (0: no cap; default: the provisioner's)",
        nonNegativeNumber,
      )
      .option('--max-failed <percent>', 'pause when more than this share of a wave fails', percent, 5)
      .option('--no-pause-on-canary', 'do not pause when a canary tenant fails')
      .option('--watch', 'follow the progress until it completes, pauses or is cancelled')
      .option('--interval <seconds>', 'how often --watch asks', positiveNumber, 2),
  ).action(async (options: StartOptions, command: Command) => {
    const ctx = contextOf(command, env);
    const filters = {
      ...(options.plan ? { plan: options.plan } : {}),
      ...(options.region ? { region: options.region } : {}),
      ...(options.cluster ? { cluster: options.cluster } : {}),
    };
    const accepted = await ctx.client.post<AcceptedUpgrade>(
      base,
      {
        targetVersion: options.to,
        waves: wavesOf(options.waves, options.soak),
        filters,
        concurrencyPerCluster: options.concurrency,
        ...(options.maxRate === undefined ? {} : { maxTenantsPerSecond: options.maxRate }),
        failurePolicy: { pauseOnCanaryFailure: options.pauseOnCanary, maxFailedPercent: options.maxFailed },
      },
      { admin: true },
    );
    if (options.watch) return watch(ctx, accepted.operation_id, options.interval * 1000);
    print(ctx, accepted.upgrade);
  });
}

function statusCommand(env: Environment): Command {
  return withJson(
    new Command('status')
      .description('where an upgrade stands: counts, rate, ETA, failed tenants')
      .argument('<upgrade>', 'upgrade id')
      .option('--watch', 'follow the progress until it completes, pauses or is cancelled')
      .option('--interval <seconds>', 'how often --watch asks', positiveNumber, 2)
      .option('--all', 'list every tenant, not only the failed ones'),
  ).action(async (id: string, options: { watch?: boolean; interval: number; all?: boolean }, command: Command) => {
    const ctx = contextOf(command, env);
    if (options.watch) return watch(ctx, id, options.interval * 1000);
    const upgrade = await ctx.client.get<Upgrade>(upgradePath(id), {
      admin: true,
      query: { tenants: options.all || ctx.json ? 'all' : 'failed' },
    });
    print(ctx, upgrade);
    if (options.all && !ctx.json) {
      console.log(
        `\n${table(
          ['TENANT', 'WAVE', 'STATUS', 'LOCK', 'ERROR'],
          upgrade.tenants.map((t) => [
            t.tenantId,
            t.wave + 1,
            status(t.status),
            t.lockHeldMs === null ? null : formatDuration(t.lockHeldMs),
            t.error,
          ]),
        )}`,
      );
    }
  });
}

const verbs = {
  pause: 'pause an upgrade: tenants in flight finish, no new one starts',
  resume: 'resume a paused upgrade (accepts the failures of the wave that paused it)',
  cancel: 'cancel an upgrade: tenants not started are skipped, upgraded ones stay upgraded',
} as const;

function steer(env: Environment, verb: keyof typeof verbs): Command {
  return withJson(new Command(verb).description(verbs[verb]).argument('<upgrade>', 'upgrade id')).action(
    async (id: string, _options, command: Command) => {
      const ctx = contextOf(command, env);
      const upgrade = await ctx.client.post<Upgrade>(`${upgradePath(id)}/${verb}`, undefined, { admin: true });
      if (ctx.json) console.log(json(upgrade));
      else console.log(`upgrade ${id} is ${status(upgrade.status)}: ${progressLine(upgrade)}`);
    },
  );
}

function rollback(env: Environment): Command {
  return withJson(
    new Command('rollback')
      .description('move every tenant the upgrade changed back to its version, with the same waves')
      .argument('<upgrade>', 'upgrade id (paused, cancelled or completed)')
      .option('--watch', 'follow the rollback until it completes, pauses or is cancelled')
      .option('--interval <seconds>', 'how often --watch asks', positiveNumber, 2),
  ).action(async (id: string, options: { watch?: boolean; interval: number }, command: Command) => {
    const ctx = contextOf(command, env);
    const accepted = await ctx.client.post<AcceptedUpgrade>(`${upgradePath(id)}/rollback`, undefined, { admin: true });
    if (options.watch) return watch(ctx, accepted.operation_id, options.interval * 1000);
    print(ctx, accepted.upgrade);
  });
}

/** `upgrade start|status|pause|resume|cancel|rollback`: fleet schema upgrades. */
export function upgradeCommand(env: Environment): Command {
  return new Command('upgrade')
    .description('upgrade workspace schemas across the fleet, in waves, with live progress and an ETA')
    .addCommand(start(env))
    .addCommand(statusCommand(env))
    .addCommand(steer(env, 'pause'))
    .addCommand(steer(env, 'resume'))
    .addCommand(steer(env, 'cancel'))
    .addCommand(rollback(env));
}
