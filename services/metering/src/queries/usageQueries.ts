import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import {
  type Granularity,
  issuesToFields,
  type Meter,
  type MeterKind,
  USAGE_WINDOWS_PAGE,
  UsageQuerySubjects,
  type UsageWindowsReply,
  UsageWindowsRequest,
} from '@ttm/contracts';
import type { Logger, Pool } from '@ttm/service-kit';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Answer `query.usage.windows`: a tenant's hourly, daily or monthly windows in a range, open
 * ones included (their value so far), closed ones marked. Every instance joins the queue group,
 * so each request is answered once.
 */
export function serveUsageQueries(nc: NatsConnection, pool: Pool, logger: Logger): Subscription {
  return nc.subscribe(UsageQuerySubjects.windows, {
    queue: 'metering',
    callback: (_error, msg) => {
      void answer(pool, msg.data)
        .catch((error: unknown): UsageWindowsReply => {
          logger.warn({ err: error }, 'usage query failed');
          return { ok: false, error: { code: 'unavailable', message: 'usage is unavailable right now; retry' } };
        })
        .then((reply) => msg.respond(encoder.encode(JSON.stringify(reply))));
    },
  });
}

async function answer(pool: Pool, data: Uint8Array): Promise<UsageWindowsReply> {
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(data));
  } catch {
    return { ok: false, error: { code: 'bad-request', message: 'the request body is not JSON' } };
  }
  const parsed = UsageWindowsRequest.safeParse(json);
  if (!parsed.success) {
    const fields = issuesToFields(parsed.error).map((f) => `${f.path || '(root)'}: ${f.message}`);
    return { ok: false, error: { code: 'bad-request', message: fields.join('; ') } };
  }
  const q = parsed.data;
  const { rows } = await pool.query<{
    meter: Meter;
    kind: MeterKind;
    granularity: Granularity;
    window_start: Date;
    window_end: Date;
    value: string;
    last_value: string;
    closed: boolean;
  }>(
    `SELECT meter, kind, granularity, window_start, window_end, value, last_value, published_at IS NOT NULL AS closed
       FROM metering.usage_windows
      WHERE tenant_id = $1 AND granularity = $2 AND window_start >= $3 AND window_start < $4
        AND ($5::text[] IS NULL OR meter = ANY($5::text[]))
      ORDER BY window_start, meter
      LIMIT ${USAGE_WINDOWS_PAGE + 1}`,
    [q.tenantId, q.granularity, q.from, q.to, q.meters ?? null],
  );
  return {
    ok: true,
    truncated: rows.length > USAGE_WINDOWS_PAGE,
    windows: rows.slice(0, USAGE_WINDOWS_PAGE).map((r) => ({
      meter: r.meter,
      kind: r.kind,
      granularity: r.granularity,
      windowStart: r.window_start.toISOString(),
      windowEnd: r.window_end.toISOString(),
      value: Number(r.value),
      ...(r.kind === 'gauge' ? { latest: Number(r.last_value) } : {}),
      closed: r.closed,
    })),
  };
}
