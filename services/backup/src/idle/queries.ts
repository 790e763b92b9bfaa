import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import {
  IdleQuerySubjects,
  type IdleTenant,
  type IdleTenantsReply,
  IdleTenantsRequest,
  issuesToFields,
} from '@ttm/contracts';
import { assessIdleness } from './idleness.js';
import { type IdleSweepDeps, idlePolicyOf, readTenantActivity } from './sweep.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Answer `query.backup.idle-tenants`: tenants' last activity and what the idle sweep makes of
 * them, longest idle first. Every instance joins the queue group, so each request is answered once.
 */
export function serveIdleQueries(nc: NatsConnection, deps: IdleSweepDeps): Subscription {
  return nc.subscribe(IdleQuerySubjects.tenants, {
    queue: 'backup',
    callback: (_error, msg) => {
      void answer(deps, msg.data)
        .catch((error: unknown): IdleTenantsReply => {
          deps.logger.warn({ err: error }, 'idle tenants query failed');
          return {
            ok: false,
            error: { code: 'unavailable', message: 'idle tenants are unavailable right now; retry' },
          };
        })
        .then((reply) => msg.respond(encoder.encode(JSON.stringify(reply))));
    },
  });
}

async function answer(deps: IdleSweepDeps, data: Uint8Array): Promise<IdleTenantsReply> {
  let body: unknown;
  try {
    body = JSON.parse(decoder.decode(data));
  } catch {
    return { ok: false, error: { code: 'bad-request', message: 'the request body is not JSON' } };
  }
  const parsed = IdleTenantsRequest.safeParse(body);
  if (!parsed.success) {
    const fields = issuesToFields(parsed.error).map((f) => `${f.path || '(root)'}: ${f.message}`);
    return { ok: false, error: { code: 'bad-request', message: fields.join('; ') } };
  }
  const q = parsed.data;
  const now = q.at ? new Date(q.at) : new Date();
  const policy = idlePolicyOf(deps);
  const iso = (d: Date | null) => d?.toISOString() ?? null;
  const all: IdleTenant[] = (await readTenantActivity(deps.pool, q.tenantIds)).map((t) => {
    const a = assessIdleness(t, policy, now);
    const lastActivityAt = 'lastActivityAt' in a ? a.lastActivityAt : null;
    return {
      tenantId: t.tenantId,
      plan: t.plan,
      status: t.status,
      idleDays: policy.idleDaysOf(t.plan),
      lastActivityAt: iso(lastActivityAt),
      lastSignInAt: iso(t.lastSignInAt),
      lastApiCallAt: iso(t.lastApiCallAt),
      activeSince: iso(t.activeSince),
      idleAt: 'idleAt' in a ? a.idleAt.toISOString() : null,
      verdict: a.kind === 'skipped' ? a.reason : a.kind,
    };
  });
  const isIdle = (t: IdleTenant) => t.verdict === 'idle' || t.verdict === 'archive-asked';
  const chosen = (q.idleOnly ? all.filter(isIdle) : all).sort(
    (a, b) =>
      (a.idleAt ? Date.parse(a.idleAt) : Number.POSITIVE_INFINITY) -
      (b.idleAt ? Date.parse(b.idleAt) : Number.POSITIVE_INFINITY),
  );
  return {
    ok: true,
    tenants: chosen.slice(0, q.limit),
    idle: all.filter(isIdle).length,
    truncated: chosen.length > q.limit,
  };
}
