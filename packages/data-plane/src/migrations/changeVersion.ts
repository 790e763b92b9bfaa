import type pg from 'pg';
import type { DataPlanePool } from '../dataPlanePools.js';
import { migrationPath } from './workspaceMigrations.js';

export interface VersionChange {
  workspaceId: string;
  /** The version the workspace is to be at when this returns. */
  to: number;
  /** Per attempt; a lock not granted in time rolls the attempt back and retries (default 2 s). */
  lockTimeoutMs?: number;
  /** Attempts when a lock times out or a deadlock is detected (default 5). */
  attempts?: number;
  /** Steps marked `needs-freeze` run only when the caller froze the tenant's writes. */
  writesFrozen?: boolean;
  /** Test hook: runs inside the transaction after the DDL, before the commit. */
  beforeCommit?: (client: pg.PoolClient) => Promise<void>;
}

export interface VersionChanged {
  outcome: 'changed' | 'already';
  from: number;
  to: number;
  /** From the first DDL statement to the end of the commit: how long the tenant's tables were locked. */
  lockHeldMs: number;
  attempts: number;
}

/** The workspace cannot be changed as asked; retrying does not help. */
export class VersionChangeRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VersionChangeRefused';
  }
}

/** The workspace is archived (INACTIVE, its schema dropped): there is nothing to change until it is restored. */
export class WorkspaceArchived extends VersionChangeRefused {
  constructor(workspaceId: string) {
    super(`workspace ${workspaceId} is archived (its schema is dropped); it keeps its version until it is restored`);
    this.name = 'WorkspaceArchived';
  }
}

const RETRYABLE = new Set(['55P03', '40P01']); // lock_not_available, deadlock_detected

/**
 * Move one workspace to another schema version in one transaction: its `core."dataSource"`
 * row is locked first and holds the version, so the DDL and the version change commit
 * together or not at all, and a second run (a retry, a resumed fleet upgrade) finds the
 * version already there and changes nothing. A failure leaves the workspace as it was.
 */
export async function changeWorkspaceVersion(pool: DataPlanePool, change: VersionChange): Promise<VersionChanged> {
  const attempts = Math.max(1, change.attempts ?? 5);
  for (let attempt = 1; ; attempt++) {
    try {
      return { ...(await changeOnce(pool, change)), attempts: attempt };
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (attempt >= attempts || !code || !RETRYABLE.has(code)) throw error;
      const backoff = Math.min(1000, 50 * 2 ** (attempt - 1));
      await new Promise((resolve) => setTimeout(resolve, backoff * (0.5 + Math.random())));
    }
  }
}

async function changeOnce(pool: DataPlanePool, change: VersionChange): Promise<Omit<VersionChanged, 'attempts'>> {
  const client = await pool.connect();
  let began = 0;
  try {
    await client.query('BEGIN');
    await client.query(`SET LOCAL lock_timeout TO '${Math.max(1, Math.round(change.lockTimeoutMs ?? 2000))}ms'`);
    const { rows } = await client.query<{ version: number; schema: string; status: string }>(
      `SELECT ds."schemaVersion" AS version, w."databaseSchema" AS schema, w."activationStatus" AS status
         FROM core."dataSource" ds JOIN core.workspace w ON w.id = ds."workspaceId"
        WHERE ds."workspaceId" = $1 FOR UPDATE OF ds`,
      [change.workspaceId],
    );
    const found = rows[0];
    if (!found) throw new VersionChangeRefused(`workspace ${change.workspaceId} has no data source in this database`);
    if (found.status === 'INACTIVE') throw new WorkspaceArchived(change.workspaceId);
    if (found.version === change.to) {
      await client.query('COMMIT');
      return { outcome: 'already', from: found.version, to: change.to, lockHeldMs: 0 };
    }
    const steps = migrationPath(found.version, change.to);
    const frozen = steps.filter((s) => s.mode === 'needs-freeze');
    if (frozen.length > 0 && !change.writesFrozen) {
      throw new VersionChangeRefused(
        `schema version ${frozen[0]?.version} needs the tenant's writes frozen; run it with the write freeze`,
      );
    }
    began = performance.now();
    await migrateSchema(client, {
      workspaceId: change.workspaceId,
      schema: found.schema,
      from: found.version,
      to: change.to,
    });
    await change.beforeCommit?.(client);
    await client.query('COMMIT');
    return { outcome: 'changed', from: found.version, to: change.to, lockHeldMs: performance.now() - began };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/**
 * Run the migration steps from one version to another on a workspace schema inside the
 * caller's transaction, and record the new version in its data source row. For callers that
 * change the workspace in the same transaction (a restore); `changeWorkspaceVersion` is the
 * upgrade itself.
 */
export async function migrateSchema(
  client: pg.ClientBase,
  target: { workspaceId: string; schema: string; from: number; to: number },
): Promise<void> {
  if (target.from === target.to) return;
  await client.query(`SET LOCAL search_path TO ${quote(target.schema)}`);
  for (const step of migrationPath(target.from, target.to)) await client.query(step.sql);
  await client.query('SET LOCAL search_path TO DEFAULT');
  await client.query(
    `UPDATE core."dataSource" SET "schemaVersion" = $2, "updatedAt" = now() WHERE "workspaceId" = $1`,
    [target.workspaceId, target.to],
  );
}

/** The schema version a workspace's data source records, or undefined when it has none there. */
export async function schemaVersionOf(
  db: Pick<DataPlanePool, 'query'>,
  workspaceId: string,
): Promise<number | undefined> {
  const { rows } = await db.query<{ version: number }>(
    'SELECT "schemaVersion" AS version FROM core."dataSource" WHERE "workspaceId" = $1',
    [workspaceId],
  );
  return rows[0]?.version;
}

function quote(identifier: string): string {
  return `"${identifier.replace(/"/g, '""')}"`;
}
