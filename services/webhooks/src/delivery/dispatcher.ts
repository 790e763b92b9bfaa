import type { JetStreamClient } from '@nats-io/jetstream';
import { encodeMessage, Subjects, WebhookEndpointDisabled } from '@ttm/contracts';
import { inTransaction, type Logger, type Pool, pause, publishMessage } from '@ttm/service-kit';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { EndpointSecrets } from '../endpoints/secrets.js';
import type { UrlPolicy } from '../endpoints/urlPolicy.js';
import { type DisablePolicy, nextAttemptDelay, type RetryPolicy, shouldDisable } from './schedule.js';
import { type AttemptOutcome, sendAttempt } from './sender.js';
import { signedHeaders } from './signing.js';

export interface DispatcherOptions {
  pool: Pool;
  js: JetStreamClient;
  logger: Logger;
  metrics: Registry;
  policy: UrlPolicy;
  /** Opens the sealed signing secrets of the claimed endpoints. */
  secrets: EndpointSecrets;
  retry: RetryPolicy;
  disable: DisablePolicy;
  timeoutMs: number;
  concurrency: number;
  pollIntervalMs: number;
  signal: AbortSignal;
}

interface Claimed {
  id: string;
  endpoint_id: string;
  payload: string;
  attempts: number;
  url: string;
  secret: string | null;
  secret_sealed: unknown;
  previous_secret: string | null;
  previous_secret_sealed: unknown;
}

/**
 * Sends due deliveries, at most one at a time per endpoint and `concurrency` in all, so a
 * hanging receiver holds only its own slot. State lives in PostgreSQL:
 * - a claim takes a lease (`lease_until`, twice the timeout) and counts the attempt before sending;
 * - the outcome is written after: success, or the next attempt time from the schedule;
 * - a process killed mid-attempt leaves a lease that runs out, and the delivery is sent again
 *   with the same webhook-id (at least once; receivers dedupe on it).
 */
export class Dispatcher {
  private readonly inFlight = new Map<string, Promise<void>>();
  private wake: (() => void) | undefined;
  private readonly outcomes: Counter<'outcome'>;
  private readonly durations: Histogram;

  constructor(private readonly options: DispatcherOptions) {
    this.outcomes = new Counter({
      name: 'ttm_webhook_attempts_total',
      help: 'Webhook delivery attempts by outcome (success, failure, refused)',
      labelNames: ['outcome'],
      registers: [options.metrics],
    });
    this.durations = new Histogram({
      name: 'ttm_webhook_attempt_duration_seconds',
      help: 'Duration of webhook delivery attempts',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [options.metrics],
    });
    const pool = options.pool;
    new Gauge({
      name: 'ttm_webhook_deliveries_pending',
      help: 'Deliveries waiting for an attempt, and the age in seconds of the oldest (label: what)',
      labelNames: ['what'],
      registers: [options.metrics],
      async collect() {
        const { rows } = await pool.query<{ pending: string; oldest: number | null }>(
          `SELECT count(*) AS pending, extract(epoch FROM now() - min(created_at))::float8 AS oldest
             FROM webhooks.deliveries WHERE status = 'pending'`,
        );
        this.set({ what: 'count' }, Number(rows[0]?.pending ?? 0));
        this.set({ what: 'oldest_age_seconds' }, rows[0]?.oldest ?? 0);
      },
    });
    new Gauge({
      name: 'ttm_webhook_endpoints',
      help: 'Webhook endpoints by status (enabled, disabled)',
      labelNames: ['status'],
      registers: [options.metrics],
      async collect() {
        const { rows } = await pool.query<{ status: string; n: string }>(
          `SELECT status, count(*) AS n FROM webhooks.endpoints WHERE removed_at IS NULL GROUP BY status`,
        );
        this.set({ status: 'enabled' }, 0);
        this.set({ status: 'disabled' }, 0);
        for (const row of rows) this.set({ status: row.status }, Number(row.n));
      },
    });
  }

  /** Look for due deliveries now (new deliveries, a re-enabled endpoint, a redelivery). */
  poke(): void {
    this.wake?.();
  }

  /** Runs until the signal aborts, then waits for the attempts in flight. */
  async run(): Promise<void> {
    const { signal, logger } = this.options;
    while (!signal.aborted) {
      const woken = new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      try {
        await this.publishDisabledNotices();
        await this.claimAndSend();
      } catch (error) {
        logger.warn({ err: error }, 'dispatching webhooks failed; trying again');
      }
      await Promise.race([woken, pause(this.options.pollIntervalMs, signal)]);
    }
    await Promise.all(this.inFlight.values());
  }

  private async claimAndSend(): Promise<void> {
    const room = this.options.concurrency - this.inFlight.size;
    if (room <= 0) return;
    const leaseMs = this.options.timeoutMs * 2 + 1_000;
    const { rows } = await this.options.pool.query<Claimed>(
      `WITH due AS (
         SELECT DISTINCT ON (d.endpoint_id) d.id
           FROM webhooks.deliveries d JOIN webhooks.endpoints e ON e.id = d.endpoint_id
          WHERE d.status = 'pending' AND d.next_attempt_at <= now()
            AND (d.lease_until IS NULL OR d.lease_until < now())
            AND e.status = 'enabled' AND e.removed_at IS NULL
            AND NOT (d.endpoint_id = ANY ($1::uuid[]))
            AND NOT EXISTS (SELECT 1 FROM webhooks.deliveries x
                             WHERE x.endpoint_id = d.endpoint_id AND x.status = 'pending' AND x.lease_until > now())
          ORDER BY d.endpoint_id, d.next_attempt_at, d.created_at
       ), picked AS (SELECT id FROM due LIMIT $2)
       UPDATE webhooks.deliveries d
          SET lease_until = now() + $3::bigint * interval '1 millisecond', attempts = d.attempts + 1,
              last_attempt_at = now()
         FROM picked, webhooks.endpoints e
        WHERE d.id = picked.id AND e.id = d.endpoint_id
          AND (d.lease_until IS NULL OR d.lease_until < now())
       RETURNING d.id, d.endpoint_id, d.payload, d.attempts, e.url, e.secret, e.secret_sealed,
                 CASE WHEN e.previous_secret_expires_at > now() THEN e.previous_secret END AS previous_secret,
                 CASE WHEN e.previous_secret_expires_at > now() THEN e.previous_secret_sealed END AS previous_secret_sealed`,
      [[...this.inFlight.keys()], room, leaseMs],
    );
    for (const claimed of rows) {
      const attempt = this.attempt(claimed).finally(() => {
        this.inFlight.delete(claimed.endpoint_id);
        this.poke();
      });
      this.inFlight.set(claimed.endpoint_id, attempt);
    }
  }

  private async attempt(claimed: Claimed): Promise<void> {
    const { logger } = this.options;
    const started = performance.now();
    let outcome: AttemptOutcome;
    try {
      const { secrets } = this.options;
      const current = await secrets.open(claimed.endpoint_id, claimed.secret_sealed, claimed.secret);
      if (current === undefined) throw new Error(`endpoint ${claimed.endpoint_id} has no signing secret`);
      const previous = await secrets.open(claimed.endpoint_id, claimed.previous_secret_sealed, claimed.previous_secret);
      const headers = signedHeaders({ current, previous }, claimed.id, new Date(), claimed.payload);
      outcome = await sendAttempt({
        url: claimed.url,
        body: claimed.payload,
        headers,
        timeoutMs: this.options.timeoutMs,
        policy: this.options.policy,
      });
    } catch (error) {
      outcome = { ok: false, statusCode: null, error: (error as Error).message };
    }
    this.durations.observe((performance.now() - started) / 1000);
    this.outcomes.inc({
      outcome: outcome.ok ? 'success' : outcome.error.startsWith('refused') ? 'refused' : 'failure',
    });
    try {
      await this.record(claimed, outcome);
    } catch (error) {
      // The lease runs out and the attempt is made again, with the same webhook-id.
      logger.warn({ err: error, delivery: claimed.id }, 'recording a webhook attempt failed');
    }
  }

  private async record(claimed: Claimed, outcome: AttemptOutcome): Promise<void> {
    await inTransaction(this.options.pool, async (client) => {
      if (outcome.ok) {
        await client.query(
          `UPDATE webhooks.deliveries SET status = 'succeeded', delivered_at = now(), lease_until = NULL,
                  next_attempt_at = NULL, last_status_code = $2, last_error = NULL WHERE id = $1`,
          [claimed.id, outcome.statusCode],
        );
        await client.query(
          `UPDATE webhooks.endpoints SET consecutive_failures = 0, failing_since = NULL WHERE id = $1`,
          [claimed.endpoint_id],
        );
        return;
      }
      const delay = nextAttemptDelay(claimed.attempts, this.options.retry);
      await client.query(
        `UPDATE webhooks.deliveries
            SET status = $2, lease_until = NULL, last_status_code = $3, last_error = $4,
                next_attempt_at = CASE WHEN $5::bigint IS NULL THEN NULL
                                       ELSE now() + $5::bigint * interval '1 millisecond' END
          WHERE id = $1`,
        [claimed.id, delay === undefined ? 'failed' : 'pending', outcome.statusCode, outcome.error, delay ?? null],
      );
      const { rows } = await client.query<{ consecutive_failures: number; failing_since: Date; status: string }>(
        `UPDATE webhooks.endpoints
            SET consecutive_failures = consecutive_failures + 1, failing_since = coalesce(failing_since, now())
          WHERE id = $1 RETURNING consecutive_failures, failing_since, status`,
        [claimed.endpoint_id],
      );
      const streak = rows[0];
      if (
        streak?.status === 'enabled' &&
        shouldDisable(
          { consecutiveFailures: streak.consecutive_failures, failingSince: streak.failing_since },
          new Date(),
          this.options.disable,
        )
      ) {
        await client.query(
          `UPDATE webhooks.endpoints
              SET status = 'disabled', disabled_at = now(), disabled_notice_pending = true,
                  disabled_reason = $2
            WHERE id = $1`,
          [claimed.endpoint_id, `${streak.consecutive_failures} failed attempts in a row; last: ${outcome.error}`],
        );
        this.options.logger.warn(
          { endpoint: claimed.endpoint_id, failures: streak.consecutive_failures },
          'webhook endpoint disabled after sustained failure',
        );
      }
    });
  }

  /**
   * Outbox of `ttm.webhook.endpoint-disabled.v1`: the flag is set with the disabling, cleared
   * once EVENTS has the event. The ce-id is derived from the endpoint and the moment it was
   * disabled, so a republish after a crash is dropped by JetStream as a duplicate.
   */
  private async publishDisabledNotices(): Promise<void> {
    const { rows } = await this.options.pool.query<{
      id: string;
      tenant_id: string | null;
      url: string;
      consecutive_failures: number;
      failing_since: Date | null;
      disabled_at: Date | null;
    }>(
      `SELECT id, tenant_id, url, consecutive_failures, failing_since, disabled_at
         FROM webhooks.endpoints WHERE disabled_notice_pending LIMIT 100`,
    );
    for (const row of rows) {
      const disabledAt = row.disabled_at ?? new Date();
      const message = encodeMessage(
        WebhookEndpointDisabled,
        {
          endpointId: row.id,
          tenantId: row.tenant_id,
          url: row.url,
          consecutiveFailures: Math.max(1, row.consecutive_failures),
          failingSince: (row.failing_since ?? disabledAt).toISOString(),
          disabledAt: disabledAt.toISOString(),
        },
        {
          source: '/ttm/webhooks',
          id: `${row.id}/disabled/${disabledAt.getTime()}`,
          subject: row.id,
          time: disabledAt,
        },
      );
      await publishMessage(this.options.js, Subjects.webhookEvents(row.id), message);
      await this.options.pool.query(
        'UPDATE webhooks.endpoints SET disabled_notice_pending = false WHERE id = $1 AND disabled_at = $2',
        [row.id, row.disabled_at],
      );
    }
  }
}
