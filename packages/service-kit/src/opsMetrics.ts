import type { JetStreamClient, JetStreamManager, MsgRequest } from '@nats-io/jetstream';
import { consumerDefinitions, type ServiceName, Streams, Subjects } from '@ttm/contracts';
import type pg from 'pg';
import { Gauge, type Registry } from 'prom-client';
import type { HealthChecks } from './health.js';

/**
 * The gauges alert rules need that no single feature owns, each read when Prometheus scrapes:
 * - `ttm_ready` and `ttm_dependency_up{dependency}` from the readiness checks (nats, postgres, redis);
 * - per durable consumer the service owns (`stream`, `consumer`, `kind` labels):
 *   `ttm_consumer_pending_messages`, `ttm_consumer_ack_pending_messages`,
 *   `ttm_consumer_redelivered_messages`, `ttm_consumer_oldest_unacked_age_seconds`, and
 *   `ttm_dead_letter_messages` (copies kept on `dlq.<stream>.<consumer>`);
 * - with a pool, the whole PostgreSQL server as `pg_stat_activity` sees it:
 *   `ttm_postgres_connections{application}` and `ttm_postgres_max_connections`.
 * A failed read reports nothing for that scrape rather than failing the whole `/metrics`.
 */
export interface OpsMetricsSources {
  service: ServiceName;
  health: HealthChecks;
  js: JetStreamClient;
  pool?: pg.Pool | undefined;
}

export function trackOpsMetrics(registry: Registry, sources: OpsMetricsSources): void {
  trackReadiness(registry, sources.health);
  trackConsumers(registry, sources.service, sources.js);
  if (sources.pool) trackPostgresServer(registry, sources.pool);
}

function replace<L extends string>(registry: Registry, config: ConstructorParameters<typeof Gauge<L>>[0]): Gauge<L> {
  // Several services in one process (tests) share nothing; one service started twice takes its metric over.
  if (registry.getSingleMetric(config.name)) registry.removeSingleMetric(config.name);
  return new Gauge<L>({ ...config, registers: [registry] });
}

function trackReadiness(registry: Registry, health: HealthChecks): void {
  let last: Promise<Awaited<ReturnType<HealthChecks['evaluate']>>> | undefined;
  // Both gauges are collected in the same scrape: evaluate the checks once for the two.
  const evaluate = () => {
    last ??= health.evaluate().finally(() => {
      setImmediate(() => {
        last = undefined;
      });
    });
    return last;
  };
  replace(registry, {
    name: 'ttm_ready',
    help: '1 when the service is ready (what /health/ready answers), 0 when not',
    async collect() {
      this.set((await evaluate()).ready ? 1 : 0);
    },
  });
  replace(registry, {
    name: 'ttm_dependency_up',
    help: '1 when the readiness check of a dependency (nats, postgres, redis) passes, 0 when not',
    labelNames: ['dependency'],
    async collect() {
      const { checks } = await evaluate();
      this.reset();
      for (const [dependency, result] of Object.entries(checks)) this.set({ dependency }, result === 'ok' ? 1 : 0);
    },
  });
}

type ConsumerLabel = 'stream' | 'consumer' | 'kind';

interface ConsumerReading {
  labels: Record<ConsumerLabel, string>;
  pending: number;
  ackPending: number;
  redelivered: number;
  oldestAgeSeconds: number;
  deadLetters: number;
}

function trackConsumers(registry: Registry, service: ServiceName, js: JetStreamClient): void {
  const owned = consumerDefinitions.filter((c) => c.owner === service);
  let jsm: JetStreamManager | undefined;
  let last: Promise<ConsumerReading[]> | undefined;

  const read = async (): Promise<ConsumerReading[]> => {
    jsm ??= await js.jetstreamManager(false);
    const manager = jsm;
    const deadLetters = await deadLetterCounts(manager);
    const readings = await Promise.all(
      owned.map(async (def): Promise<ConsumerReading | undefined> => {
        const info = await manager.consumers.info(def.stream, def.durable).catch(() => undefined);
        if (!info) return undefined;
        const unfinished = info.num_pending + info.num_ack_pending;
        let oldestAgeSeconds = 0;
        if (unfinished > 0) {
          // The first message of the filter after the ack floor is the oldest one not finished.
          const query = { seq: info.ack_floor.stream_seq + 1, next_by_subj: def.filterSubject };
          const oldest = await manager.streams.getMessage(def.stream, query as unknown as MsgRequest).catch(() => null);
          if (oldest) oldestAgeSeconds = Math.max(0, (Date.now() - oldest.time.getTime()) / 1_000);
        }
        return {
          labels: { stream: def.stream, consumer: def.durable, kind: def.kind },
          pending: info.num_pending,
          ackPending: info.num_ack_pending,
          redelivered: info.num_redelivered,
          oldestAgeSeconds,
          deadLetters: deadLetters.get(Subjects.deadLetter(def.stream, def.durable)) ?? 0,
        };
      }),
    );
    return readings.filter((r): r is ConsumerReading => r !== undefined);
  };
  const readings = () => {
    last ??= read().finally(() => {
      setImmediate(() => {
        last = undefined;
      });
    });
    return last;
  };

  const gauge = (name: string, help: string, value: (r: ConsumerReading) => number) =>
    replace<ConsumerLabel>(registry, {
      name,
      help,
      labelNames: ['stream', 'consumer', 'kind'],
      async collect() {
        const all = await readings().catch(() => undefined);
        if (!all) return;
        this.reset();
        for (const r of all) this.set(r.labels, value(r));
      },
    });
  gauge('ttm_consumer_pending_messages', 'Messages of a durable consumer not delivered yet', (r) => r.pending);
  gauge(
    'ttm_consumer_ack_pending_messages',
    'Messages delivered to a durable consumer, not acked yet',
    (r) => r.ackPending,
  );
  gauge(
    'ttm_consumer_redelivered_messages',
    'Messages a durable consumer has in hand that were redelivered',
    (r) => r.redelivered,
  );
  gauge(
    'ttm_consumer_oldest_unacked_age_seconds',
    'Age of the oldest message a durable consumer has not acked (0 when it has none): queue age for commands, lag for projections',
    (r) => r.oldestAgeSeconds,
  );
  gauge(
    'ttm_dead_letter_messages',
    'Poison messages of a durable consumer kept in the DEADLETTER stream',
    (r) => r.deadLetters,
  );
}

async function deadLetterCounts(jsm: JetStreamManager): Promise<Map<string, number>> {
  const info = await jsm.streams.info(Streams.DEADLETTER, { subjects_filter: 'dlq.>' }).catch(() => undefined);
  return new Map(Object.entries(info?.state.subjects ?? {}));
}

function trackPostgresServer(registry: Registry, pool: pg.Pool): void {
  replace<'application'>(registry, {
    name: 'ttm_postgres_connections',
    help: 'Client connections to the PostgreSQL server of the control-plane database, by application_name (pg_stat_activity)',
    labelNames: ['application'],
    async collect() {
      const result = await pool
        .query<{ application: string; n: number }>(
          `SELECT coalesce(nullif(application_name, ''), 'unknown') AS application, count(*)::int AS n
             FROM pg_stat_activity WHERE backend_type = 'client backend' GROUP BY 1`,
        )
        .catch(() => undefined);
      if (!result) return;
      this.reset();
      for (const row of result.rows) this.set({ application: row.application }, row.n);
    },
  });
  replace(registry, {
    name: 'ttm_postgres_max_connections',
    help: 'max_connections of the PostgreSQL server of the control-plane database',
    async collect() {
      const result = await pool
        .query<{ n: number }>(`SELECT current_setting('max_connections')::int AS n`)
        .catch(() => undefined);
      if (result?.rows[0]) this.set(result.rows[0].n);
    },
  });
}
