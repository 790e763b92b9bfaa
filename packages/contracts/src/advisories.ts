import { z } from 'zod';
import { Subjects } from './topology.js';

/**
 * Messages the system reads but does not define: NATS server advisories. They are plain JSON
 * (no CloudEvents headers), published by nats-server itself on `$JS.EVENT.ADVISORY.…` subjects.
 */
export interface ExternalMessageDefinition<S extends z.ZodType = z.ZodType> {
  kind: 'external';
  /** The `type` field of the JSON body, which names the schema. */
  type: string;
  description: string;
  /** Who publishes it (not one of our services). */
  publisher: string;
  /** The subject it arrives on, with `{param}` placeholders (a subject catalog pattern). */
  subjectPattern: string;
  schema: S;
}

function defineExternal<S extends z.ZodType>(
  def: Omit<ExternalMessageDefinition<S>, 'kind'>,
): ExternalMessageDefinition<S> {
  return { kind: 'external', ...def };
}

export const MAX_DELIVERIES_ADVISORY_TYPE = 'io.nats.jetstream.advisory.v1.max_deliver';

/**
 * Published by nats-server when a message exhausts its consumer's `max_deliver`. The message stays
 * in its stream and is not delivered again, so a listener must copy it to the dead-letter place.
 */
export const MaxDeliveriesAdvisory = defineExternal({
  type: MAX_DELIVERIES_ADVISORY_TYPE,
  description: 'JetStream advisory: a message exhausted max_deliver on a consumer; stream_seq locates it in the stream',
  publisher: 'nats-server',
  subjectPattern: Subjects.maxDeliveriesAdvisory('{stream}', '{consumer}'),
  schema: z.object({
    type: z.literal(MAX_DELIVERIES_ADVISORY_TYPE),
    id: z.string().min(1).describe('Advisory id (a NATS nuid)'),
    timestamp: z.iso.datetime({ offset: true }).describe('When the server gave up (RFC 3339, nanoseconds)'),
    stream: z.string().min(1).describe('Stream holding the message'),
    consumer: z.string().min(1).describe('Durable consumer that gave up'),
    stream_seq: z.number().int().positive().describe('Stream sequence of the message'),
    deliveries: z.number().int().positive().describe('How many times it was delivered'),
    domain: z.string().optional().describe('JetStream domain, when one is configured'),
  }),
});
export type MaxDeliveriesAdvisoryData = z.infer<typeof MaxDeliveriesAdvisory.schema>;

export const externalMessageDefinitions: readonly ExternalMessageDefinition[] = [MaxDeliveriesAdvisory];
