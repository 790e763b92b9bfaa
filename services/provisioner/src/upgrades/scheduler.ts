import { type FleetUpgradeDeps, runUpgrade } from './fleetUpgrade.js';

/**
 * Runs every upgrade that is `running` in the provisioner's table: the ones an operator just
 * started or resumed, and the ones a killed provisioner left half-done. A session advisory
 * lock per upgrade keeps two provisioner instances from running the same one.
 */
export class UpgradeScheduler {
  private timer: NodeJS.Timeout | undefined;
  private readonly active = new Map<string, Promise<void>>();
  private readonly abort = new AbortController();
  private checking = false;

  constructor(
    private readonly deps: FleetUpgradeDeps,
    private readonly intervalMs = 1000,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.check(), this.intervalMs);
    this.timer.unref();
    void this.check();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.abort.abort();
    await Promise.allSettled(this.active.values());
  }

  /** Look for upgrades to run now (also what `start` does every interval). */
  async check(): Promise<void> {
    if (this.checking || this.abort.signal.aborted) return;
    this.checking = true;
    try {
      const { rows } = await this.deps.pool.query<{ id: string }>(
        `SELECT id FROM provisioner.upgrades WHERE status = 'running' ORDER BY created_at`,
      );
      for (const { id } of rows) {
        if (this.active.has(id)) continue;
        const run = this.run(id).finally(() => this.active.delete(id));
        this.active.set(id, run);
      }
    } catch (error) {
      this.deps.logger.warn({ err: error }, 'could not look for schema upgrades to run');
    } finally {
      this.checking = false;
    }
  }

  private async run(upgradeId: string): Promise<void> {
    const client = await this.deps.pool.connect();
    let locked = false;
    try {
      const { rows } = await client.query<{ locked: boolean }>(
        `SELECT pg_try_advisory_lock(hashtext('ttm-upgrade'), hashtext($1)) AS locked`,
        [upgradeId],
      );
      locked = rows[0]?.locked === true;
      if (!locked) return;
      const status = await runUpgrade(this.deps, upgradeId, this.abort.signal);
      this.deps.logger.info({ upgradeId, status }, 'schema upgrade run ended');
    } catch (error) {
      this.deps.logger.error({ upgradeId, err: error }, 'schema upgrade run failed; it is retried');
    } finally {
      if (locked) {
        await client
          .query(`SELECT pg_advisory_unlock(hashtext('ttm-upgrade'), hashtext($1))`, [upgradeId])
          .catch(() => undefined);
      }
      client.release();
    }
  }
}
