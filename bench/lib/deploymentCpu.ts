import type pg from 'pg';
import { clusterCpuSeconds, cpuSecondsOf } from './cpu.js';
import type { ProcessStack } from './processStack.js';

/** A private PostgreSQL cluster of the deployment, by name and data directory. */
export interface CpuCluster {
  name: string;
  dataDir: string;
}

export type DeploymentCpu = ReturnType<typeof deploymentCpu>;

/**
 * CPU seconds (user + system, from /proc) of every process of a bench's deployment: each service,
 * the private nats-server, each private cluster (postmaster, live backends and the exited ones it
 * reaped), this run's backends on the shared control-plane server (those alive at both readings;
 * one that exits in between is missed) and the bench process itself.
 */
export function deploymentCpu(stack: ProcessStack, clusters: CpuCluster[], control: pg.Client) {
  const snapshot = async (): Promise<Map<string, number>> => {
    const values = new Map<string, number>();
    for (const [service, pid] of Object.entries(stack.pids)) values.set(service, cpuSecondsOf(pid));
    if (stack.nats.pid) values.set('nats-server', cpuSecondsOf(stack.nats.pid));
    for (const c of clusters) values.set(`postgres ${c.name}`, clusterCpuSeconds(c.dataDir));
    const { rows } = await control.query<{ pid: number }>(
      'SELECT pid FROM pg_stat_activity WHERE datname LIKE $1 AND pid <> pg_backend_pid()',
      [`${stack.db.name}%`],
    );
    for (const { pid } of rows) values.set(`control:${pid}`, cpuSecondsOf(pid));
    const own = process.cpuUsage();
    values.set('bench client', (own.user + own.system) / 1e6);
    return values;
  };
  return {
    snapshot,
    /** CPU seconds each process spent between two snapshots (control-plane backends summed). */
    diff(before: Map<string, number>, after: Map<string, number>): Map<string, number> {
      const out = new Map<string, number>();
      let controlPlane = 0;
      for (const [key, value] of after) {
        const delta = value - (before.get(key) ?? 0);
        if (key.startsWith('control:')) controlPlane += delta;
        else out.set(key, delta);
      }
      out.set('postgres control plane', controlPlane);
      return out;
    },
  };
}
