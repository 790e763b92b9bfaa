import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';

/**
 * Messages a durable consumer has not finished (waiting plus in hand), read from the
 * server at most once a second however often stats and metrics ask: a scrape storm must
 * not become a JetStream API storm.
 */
export class ConsumerBacklog {
  private jsm: JetStreamManager | undefined;
  private readonly cache = new Map<string, { at: number; value: Promise<number> }>();

  constructor(
    private readonly js: JetStreamClient,
    private readonly maxAgeMs = 1_000,
  ) {}

  pending(stream: string, durable: string): Promise<number> {
    const key = `${stream}/${durable}`;
    const cached = this.cache.get(key);
    if (cached && Date.now() - cached.at < this.maxAgeMs) return cached.value;
    const value = this.read(stream, durable);
    this.cache.set(key, { at: Date.now(), value });
    // A failed read is not remembered: the next caller asks again.
    value.catch(() => {
      if (this.cache.get(key)?.value === value) this.cache.delete(key);
    });
    return value;
  }

  private async read(stream: string, durable: string): Promise<number> {
    this.jsm ??= await this.js.jetstreamManager(false);
    const info = await this.jsm.consumers.info(stream, durable);
    return info.num_pending + info.num_ack_pending;
  }
}
