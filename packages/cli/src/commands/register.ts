import { Command } from 'commander';
import type { ProvisioningState, RegistrationAccepted } from '../api.js';
import { type Context, contextOf, type Environment, withJson } from '../context.js';
import { exitCodes, UsageError } from '../errors.js';
import { positiveNumber } from '../options.js';
import { followWithProgress } from '../progressView.js';
import { promptSecret } from '../prompt.js';
import { watchProvisioning } from '../provisioning.js';
import { json, keyValue } from '../render.js';
import { formatDuration } from '../time.js';

interface RegisterOptions {
  org: string;
  email: string;
  password?: string;
  plan: string;
  region?: string;
  idempotencyKey?: string;
  wait: boolean;
  timeout: number;
}

export function registerCommand(env: Environment): Command {
  return withJson(
    new Command('register')
      .description('register an organization, then follow its provisioning until it is active or failed')
      .requiredOption('--org <name>', 'organization name')
      .requiredOption('--email <email>', "the organization admin's email")
      .option('--password <password>', 'admin password (default: TTM_ADMIN_PASSWORD, or asked on a terminal)')
      .requiredOption('--plan <plan>', 'plan, e.g. free, pro, enterprise')
      .option('--region <region>', "region, e.g. eu-west-1 (default: the plan's)")
      .option('--idempotency-key <key>', 'makes a retry safe: the same key answers the same registration')
      .option('--no-wait', 'return as soon as the registration is accepted')
      .option('--timeout <seconds>', 'stop waiting after this many seconds', positiveNumber, 600),
  ).action(async (options: RegisterOptions, command: Command) => {
    const ctx = contextOf(command, env);
    const timeoutMs = options.timeout * 1_000;
    const password = await adminPassword(options, env);
    const started = performance.now();
    const accepted = await ctx.client.post<RegistrationAccepted>(
      '/api/auth/register-organization',
      {
        organization_name: options.org,
        admin_email: options.email,
        admin_password: password,
        plan: options.plan,
        ...(options.region ? { region: options.region } : {}),
      },
      { headers: options.idempotencyKey ? { 'idempotency-key': options.idempotencyKey } : {} },
    );
    if (!options.wait) {
      console.log(ctx.json ? json(accepted) : acceptedTable(accepted));
      return;
    }
    const final = await follow(ctx, accepted, timeoutMs);
    const durationMs = performance.now() - started;
    report(ctx, final, durationMs);
  });
}

async function adminPassword(options: RegisterOptions, env: Environment): Promise<string> {
  const password =
    options.password ?? env.adminPassword ?? (process.stdin.isTTY ? await promptSecret('admin password: ') : undefined);
  if (!password) {
    throw new UsageError('register needs the admin password: pass --password or set TTM_ADMIN_PASSWORD');
  }
  return password;
}

function follow(ctx: Context, accepted: RegistrationAccepted, timeoutMs: number): Promise<ProvisioningState> {
  return followWithProgress(
    ctx.json,
    (options) => watchProvisioning(ctx.client, accepted.provisioning_id, { tenantId: accepted.tenant_id, ...options }),
    timeoutMs,
    { name: `provisioning ${accepted.provisioning_id}`, checkLater: `tenant-cli show ${accepted.tenant_id}` },
  );
}

function report(ctx: Context, final: ProvisioningState, durationMs: number): void {
  const failed = final.status === 'failed';
  if (failed) process.exitCode = exitCodes.failure;
  if (ctx.json) {
    console.log(json({ ...final, duration_ms: Math.round(durationMs) }));
  } else if (failed) {
    console.error(`tenant-cli: provisioning of tenant ${final.tenant_id} failed: ${final.error ?? 'no reason given'}`);
  } else {
    console.log(
      keyValue([
        ['TENANT', final.tenant_id],
        ['SLUG', final.slug],
        ['STATUS', final.status],
        ['TOOK', formatDuration(durationMs)],
      ]),
    );
  }
}

function acceptedTable(accepted: RegistrationAccepted): string {
  return keyValue([
    ['PROVISIONING', accepted.provisioning_id],
    ['TENANT', accepted.tenant_id],
    ['STATUS', accepted.status],
  ]);
}
