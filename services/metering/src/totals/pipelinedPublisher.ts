import { createInbox, type MsgHdrs, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { inboxPrefixOfConnection } from '@ttm/service-kit';

interface Pending {
  resolve: (ack: { seq: number; duplicate: boolean }) => void;
  reject: (error: Error) => void;
  deadline: number;
}

/**
 * JetStream publishes with their acknowledgements, many in flight: each message carries a reply
 * subject under one inbox, and the stream's PubAcks come back on one subscription. Same
 * guarantee as `js.publish` (resolved once the stream stored it), without the client's
 * per-request inbox, timer and error objects, which dominate when thousands of small writes
 * (KV puts of usage totals) go out every second.
 */
export class PipelinedPublisher {
  /** Under the connection's inbox prefix: a locked-down server delivers only there. */
  private readonly inbox: string;
  private readonly pending = new Map<number, Pending>();
  private readonly subscription: Subscription;
  private readonly sweeper: NodeJS.Timeout;
  private next = 0;
  private readonly decoder = new TextDecoder();

  constructor(
    private readonly nc: NatsConnection,
    private readonly timeoutMs = 5_000,
  ) {
    this.inbox = createInbox(inboxPrefixOfConnection(nc));
    this.subscription = nc.subscribe(`${this.inbox}.*`, {
      callback: (_error, msg) => {
        const id = Number(msg.subject.slice(this.inbox.length + 1));
        const waiting = this.pending.get(id);
        if (!waiting) return;
        this.pending.delete(id);
        try {
          const ack = JSON.parse(this.decoder.decode(msg.data)) as {
            seq?: number;
            duplicate?: boolean;
            error?: { code: number; description: string };
          };
          if (ack.error) waiting.reject(new Error(`JetStream refused the write: ${ack.error.description}`));
          else if (ack.seq === undefined) waiting.reject(new Error('no stream took the write (no responders)'));
          else waiting.resolve({ seq: ack.seq, duplicate: ack.duplicate === true });
        } catch (error) {
          waiting.reject(error as Error);
        }
      },
    });
    this.sweeper = setInterval(() => this.expire(), Math.min(1_000, timeoutMs));
    this.sweeper.unref();
  }

  publish(subject: string, data: Uint8Array | string, headers?: MsgHdrs): Promise<{ seq: number; duplicate: boolean }> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, deadline: Date.now() + this.timeoutMs });
      try {
        this.nc.publish(subject, data, { reply: `${this.inbox}.${id}`, ...(headers ? { headers } : {}) });
      } catch (error) {
        this.pending.delete(id);
        reject(error as Error);
      }
    });
  }

  close(): void {
    clearInterval(this.sweeper);
    this.subscription.unsubscribe();
    for (const waiting of this.pending.values()) waiting.reject(new Error('publisher closed'));
    this.pending.clear();
  }

  private expire(): void {
    const now = Date.now();
    for (const [id, waiting] of this.pending) {
      if (waiting.deadline > now) continue;
      this.pending.delete(id);
      waiting.reject(new Error(`no acknowledgement from JetStream within ${this.timeoutMs} ms`));
    }
  }
}

/** The subject a KV put writes to: the KV protocol's `$KV.<bucket>.<key>`. */
export function kvPutSubject(bucket: string, key: string): string {
  return `$KV.${bucket}.${key}`;
}
