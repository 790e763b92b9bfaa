import { randomUUID } from 'node:crypto';
import {
  inTransaction,
  isSealedSecret,
  type KeyEncryptionKeys,
  type Logger,
  openSecret,
  type Pool,
  sealSecret,
} from '@ttm/service-kit';
import type pg from 'pg';
import { GATEWAY_SCHEMA } from '../tenants/projection.js';
import type { MailTransport, OutgoingMail } from './mailTransport.js';

const table = `${GATEWAY_SCHEMA}.outbox`;
const batchSize = 20;
/** Backoff after a failed send: doubling from 1 s, at most an hour. */
const retryDelaySeconds = (attempts: number) => Math.min(3600, 2 ** Math.min(attempts, 12));

/**
 * Mail written in the caller's transaction, so it exists exactly when what it announces does,
 * and sent after commit by `OutboxDispatcher`. Messages are sealed under the KEK at rest.
 */
export class Outbox {
  constructor(private readonly kek: KeyEncryptionKeys) {}

  async enqueue(client: pg.ClientBase, kind: string, mail: OutgoingMail): Promise<void> {
    const id = randomUUID();
    const sealed = await sealSecret(this.kek, Buffer.from(JSON.stringify(mail), 'utf8'), id);
    await client.query(`INSERT INTO ${table} (id, kind, recipient, message) VALUES ($1, $2, $3, $4)`, [
      id,
      kind,
      mail.to,
      JSON.stringify(sealed),
    ]);
  }
}

/**
 * Drains the outbox: every poll (and at once after `wake()`), due rows are locked (SKIP LOCKED, so
 * gateways share the work), handed to the transport and deleted; a refused send is retried with
 * backoff. A row whose seal does not open (a KEK that is gone) is kept and logged, never dropped.
 */
export class OutboxDispatcher {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(
    private readonly options: {
      pool: Pool;
      kek: KeyEncryptionKeys;
      transport: MailTransport;
      logger: Logger;
      pollIntervalMs: number;
    },
  ) {}

  start(): void {
    this.timer = setInterval(() => this.wake(), this.options.pollIntervalMs);
    this.timer.unref();
    this.wake();
  }

  /** Send what is due now (new mail was committed); coalesces with a drain already running. */
  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.drain()
      .then(() => undefined)
      .catch((error: unknown) => this.options.logger.warn({ err: error }, 'outbox: sending mail failed; will retry'))
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.wake();
        }
      });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  /** One pass: batches until nothing is due. Answers how many were sent. */
  async drain(): Promise<number> {
    let sent = 0;
    for (;;) {
      const batch = await inTransaction(this.options.pool, (client) => this.sendBatch(client));
      sent += batch.sent;
      if (batch.rows < batchSize || this.stopped) return sent;
    }
  }

  private async sendBatch(client: pg.PoolClient): Promise<{ rows: number; sent: number }> {
    const { rows } = await client.query<{ id: string; kind: string; message: unknown; attempts: number }>(
      `SELECT id, kind, message, attempts FROM ${table}
        WHERE next_attempt_at <= now() ORDER BY created_at LIMIT ${batchSize} FOR UPDATE SKIP LOCKED`,
    );
    let sent = 0;
    for (const row of rows) {
      try {
        if (!isSealedSecret(row.message)) throw new Error('the outbox message is not sealed');
        const mail = JSON.parse((await openSecret(this.options.kek, row.message, row.id)).toString('utf8'));
        await this.options.transport.send(mail as OutgoingMail);
        await client.query(`DELETE FROM ${table} WHERE id = $1`, [row.id]);
        sent++;
      } catch (error) {
        this.options.logger.warn({ err: error, id: row.id, kind: row.kind }, 'outbox: could not send; retrying later');
        await client.query(
          `UPDATE ${table} SET attempts = attempts + 1, last_error = $2,
                  next_attempt_at = now() + make_interval(secs => $3) WHERE id = $1`,
          [
            row.id,
            String(error instanceof Error ? error.message : error).slice(0, 500),
            retryDelaySeconds(row.attempts),
          ],
        );
      }
    }
    return { rows: rows.length, sent };
  }
}
