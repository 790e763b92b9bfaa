import type pg from 'pg';
import { sleep } from './polling.js';

/**
 * PostgreSQL connections the services hold, every 250 ms: on each data-plane cluster every `ttm-*`
 * backend (any database of it), on the control-plane server those of this run's database. Keeps
 * the most seen in one sample, all together and on the data-plane clusters alone, each with its
 * breakdown by application_name.
 */
export function connectionSampler(control: pg.Client, controlDatabase: string, clusterClients: pg.Client[]) {
  let stopped = false;
  let latest = 0;
  let max = 0;
  let atMax: Record<string, number> = {};
  let dataPlaneMax = 0;
  let atDataPlaneMax: Record<string, number> = {};
  /** The most each application held on the data-plane clusters, each at its own moment. */
  let dataPlaneMaxByApplication: Record<string, number> = {};
  const byApplication = async (client: pg.Client, sql: string, params: string[] = []) =>
    (await client.query<{ app: string; n: number }>(sql, params)).rows;
  const sample = async () => {
    const all: Record<string, number> = {};
    const dataPlane: Record<string, number> = {};
    const add = (into: Record<string, number>, rows: { app: string; n: number }[]) => {
      for (const r of rows) into[r.app] = (into[r.app] ?? 0) + r.n;
    };
    add(
      all,
      await byApplication(
        control,
        `SELECT application_name AS app, count(*)::int AS n FROM pg_stat_activity
          WHERE datname = $1 AND application_name LIKE 'ttm-%' GROUP BY 1`,
        [controlDatabase],
      ),
    );
    for (const client of clusterClients) {
      const rows = await byApplication(
        client,
        `SELECT application_name AS app, count(*)::int AS n FROM pg_stat_activity
          WHERE application_name LIKE 'ttm-%' GROUP BY 1`,
      );
      add(all, rows);
      add(dataPlane, rows);
    }
    const total = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);
    latest = total(all);
    if (latest > max) {
      max = latest;
      atMax = all;
    }
    for (const [app, n] of Object.entries(dataPlane)) {
      dataPlaneMaxByApplication[app] = Math.max(n, dataPlaneMaxByApplication[app] ?? 0);
    }
    if (total(dataPlane) > dataPlaneMax) {
      dataPlaneMax = total(dataPlane);
      atDataPlaneMax = dataPlane;
    }
  };
  const loop = (async () => {
    while (!stopped) {
      await sample().catch(() => undefined);
      await sleep(250);
    }
  })();
  return {
    now: () => latest,
    max: () => max,
    breakdownAtMax: () => atMax,
    /** The most on the data-plane clusters alone (what the connection budget bounds). */
    dataPlaneMax: () => dataPlaneMax,
    breakdownAtDataPlaneMax: () => atDataPlaneMax,
    dataPlaneMaxByApplication: () => dataPlaneMaxByApplication,
    reset() {
      max = 0;
      atMax = {};
      dataPlaneMax = 0;
      atDataPlaneMax = {};
      dataPlaneMaxByApplication = {};
    },
    async stop() {
      stopped = true;
      await loop;
    },
  };
}
