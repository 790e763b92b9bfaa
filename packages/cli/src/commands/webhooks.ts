import { Command, InvalidArgumentError } from 'commander';
import type { WebhookDelivery, WebhookEndpoint, WebhookSecret } from '../api.js';
import { type Context, contextOf, type Environment, withJson } from '../context.js';
import { positiveInteger } from '../options.js';
import { json, keyValue, status, table } from '../render.js';
import { formatTime } from '../time.js';

const base = '/api/admin/webhooks';
const endpointPath = (id: string) => `${base}/${encodeURIComponent(id)}`;

function seconds(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0) throw new InvalidArgumentError('expected a whole number of seconds');
  return value;
}

function endpointTable(endpoint: WebhookEndpoint): string {
  return keyValue([
    ['ENDPOINT', endpoint.id],
    ['URL', endpoint.url],
    ['EVENTS', endpoint.eventTypes.join(', ')],
    ['TENANT', endpoint.tenantId ?? 'all (fleet)'],
    ['OWNER', endpoint.owner],
    ['STATUS', status(endpoint.status)],
    ['DISABLED BECAUSE', endpoint.disabledReason],
    ['FAILURES IN A ROW', endpoint.consecutiveFailures],
    ['CREATED', formatTime(endpoint.createdAt)],
    ['OLD SECRET UNTIL', formatTime(endpoint.previousSecretExpiresAt ?? undefined)],
  ]);
}

/** The secret goes to stdout alone on its last line, so `| tail -1` captures it; it is never shown again. */
function printSecret(ctx: Context, result: WebhookSecret): void {
  if (ctx.json) {
    console.log(json(result));
    return;
  }
  console.log(endpointTable(result.endpoint));
  console.error('signing secret (shown once, store it now):');
  console.log(result.secret);
}

function add(env: Environment): Command {
  return withJson(
    new Command('add')
      .description('register an endpoint; prints its signing secret once')
      .argument('<url>', 'receiver URL (https; no private addresses)')
      .requiredOption('--events <types>', 'comma-separated event types, e.g. quota.exceeded,tenant.suspended')
      .option('--tenant <id>', "only this tenant's events (default: every tenant and the fleet)")
      .option('--description <text>', 'what the endpoint is for'),
  ).action(async (url: string, options: { events: string; tenant?: string; description?: string }, command) => {
    const ctx = contextOf(command, env);
    const created = await ctx.client.post<WebhookSecret>(
      base,
      {
        url,
        eventTypes: options.events
          .split(',')
          .map((t) => t.trim())
          .filter(Boolean),
        ...(options.tenant ? { tenantId: options.tenant } : {}),
        ...(options.description ? { description: options.description } : {}),
      },
      { admin: true },
    );
    printSecret(ctx, created);
  });
}

function list(env: Environment): Command {
  return withJson(new Command('list').description('every endpoint')).action(async (_options, command: Command) => {
    const ctx = contextOf(command, env);
    const { endpoints } = await ctx.client.get<{ endpoints: WebhookEndpoint[] }>(base, { admin: true });
    if (ctx.json) {
      console.log(json({ endpoints }));
      return;
    }
    if (endpoints.length === 0) {
      console.error('no webhook endpoints');
      return;
    }
    console.log(
      table(
        ['ID', 'STATUS', 'URL', 'EVENTS', 'TENANT', 'OWNER'],
        endpoints.map((e) => [e.id, status(e.status), e.url, e.eventTypes.join(','), e.tenantId ?? 'all', e.owner]),
      ),
    );
  });
}

function deliveries(env: Environment): Command {
  return withJson(
    new Command('deliveries')
      .description("an endpoint's delivery log, newest first")
      .argument('<endpoint>', 'endpoint id')
      .option('--limit <n>', 'at most this many', positiveInteger, 50),
  ).action(async (id: string, options: { limit: number }, command: Command) => {
    const ctx = contextOf(command, env);
    const log = await ctx.client.get<{ deliveries: WebhookDelivery[] }>(`${endpointPath(id)}/deliveries`, {
      admin: true,
      query: { limit: options.limit },
    });
    if (ctx.json) {
      console.log(json(log));
      return;
    }
    if (log.deliveries.length === 0) {
      console.error(`endpoint ${id} has no deliveries yet`);
      return;
    }
    console.log(
      table(
        ['WEBHOOK-ID', 'EVENT', 'STATUS', 'ATTEMPTS', 'LAST', 'NEXT', 'ERROR'],
        log.deliveries.map((d) => [
          d.id,
          d.eventType,
          status(d.status),
          d.attempts,
          d.lastStatusCode ?? formatTime(d.lastAttemptAt ?? undefined),
          formatTime(d.nextAttemptAt ?? undefined),
          d.lastError,
        ]),
      ),
    );
  });
}

function redeliver(env: Environment): Command {
  return withJson(
    new Command('redeliver')
      .description('send a delivery again now, with the same webhook-id')
      .argument('<endpoint>', 'endpoint id')
      .argument('<delivery>', 'delivery id (webhook-id, msg_...)'),
  ).action(async (id: string, deliveryId: string, _options, command: Command) => {
    const ctx = contextOf(command, env);
    const delivery = await ctx.client.post<WebhookDelivery>(
      `${endpointPath(id)}/deliveries/${encodeURIComponent(deliveryId)}/redeliver`,
      undefined,
      { admin: true },
    );
    console.log(ctx.json ? json(delivery) : `${delivery.id} is ${status(delivery.status)}: sending again now`);
  });
}

function rotateSecret(env: Environment): Command {
  return withJson(
    new Command('rotate-secret')
      .description('a new signing secret (printed once); the old one also signs during the overlap')
      .argument('<endpoint>', 'endpoint id')
      .option('--overlap <seconds>', 'how long the old secret keeps signing (default: the service setting)', seconds),
  ).action(async (id: string, options: { overlap?: number }, command: Command) => {
    const ctx = contextOf(command, env);
    const rotated = await ctx.client.post<WebhookSecret>(
      `${endpointPath(id)}/rotate-secret`,
      options.overlap === undefined ? {} : { overlapSeconds: options.overlap },
      { admin: true },
    );
    printSecret(ctx, rotated);
  });
}

function remove(env: Environment): Command {
  return withJson(
    new Command('remove').description('remove an endpoint (no more deliveries)').argument('<endpoint>', 'endpoint id'),
  ).action(async (id: string, _options, command: Command) => {
    const ctx = contextOf(command, env);
    await ctx.client.request<void>('DELETE', endpointPath(id), { admin: true });
    console.log(ctx.json ? json({ removed: id }) : `endpoint ${id} removed`);
  });
}

function enable(env: Environment): Command {
  return withJson(
    new Command('enable')
      .description('enable an endpoint that was disabled after sustained failure')
      .argument('<endpoint>', 'endpoint id'),
  ).action(async (id: string, _options, command: Command) => {
    const ctx = contextOf(command, env);
    const endpoint = await ctx.client.post<WebhookEndpoint>(`${endpointPath(id)}/enable`, undefined, { admin: true });
    console.log(ctx.json ? json(endpoint) : endpointTable(endpoint));
  });
}

/** `webhooks <verb>`: operators' webhook endpoints (admin key). */
export function webhooksCommand(env: Environment): Command {
  const command = new Command('webhooks').description(
    'product webhooks: register endpoints, read delivery logs, redeliver, rotate secrets',
  );
  for (const verb of [add, list, deliveries, redeliver, rotateSecret, enable, remove]) command.addCommand(verb(env));
  return command;
}
