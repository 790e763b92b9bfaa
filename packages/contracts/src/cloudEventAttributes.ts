import { z } from 'zod';
import { CloudEventHeaders, JSON_CONTENT_TYPE, SPEC_VERSION } from './envelope.js';

/** Same rule as `defineEvent`/`defineCommand` enforce: `ttm.<aggregate>.<name>.v<N>`. */
export const MESSAGE_TYPE_PATTERN = /^ttm\.[a-z]+\.[a-z][a-z-]*\.v[1-9][0-9]*$/;
/** W3C Trace Context `traceparent`: version-traceid-parentid-flags. */
export const TRACEPARENT_PATTERN = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

/**
 * The NATS headers of a CloudEvent in the binary binding, as written by `encodeMessage`. Other
 * headers (e.g. `Nats-Expected-Last-Subject-Sequence`) may be present and are allowed.
 * `ce-id` and `Nats-Msg-Id` carry the same value (JSON Schema cannot say so; `readMeta` users can check).
 */
export const CloudEventAttributes = z
  .object({
    [CloudEventHeaders.id]: z
      .string()
      .min(1)
      .describe('CloudEvent id; equal to Nats-Msg-Id, so JetStream deduplicates'),
    [CloudEventHeaders.type]: z
      .string()
      .regex(MESSAGE_TYPE_PATTERN)
      .describe('Versioned message type, ttm.<aggregate>.<name>.v<N>; names the payload JSON Schema'),
    [CloudEventHeaders.source]: z.string().min(1).describe('Producer, e.g. /ttm/gateway'),
    [CloudEventHeaders.specversion]: z.literal(SPEC_VERSION).describe('CloudEvents spec version'),
    [CloudEventHeaders.time]: z.iso.datetime({ offset: true }).describe('When it happened (RFC 3339)'),
    [CloudEventHeaders.subject]: z
      .string()
      .min(1)
      .optional()
      .describe('The aggregate instance the message is about (e.g. the tenant id)'),
    [CloudEventHeaders.dataContentType]: z.literal(JSON_CONTENT_TYPE).optional().describe('Body media type'),
    [CloudEventHeaders.natsMsgId]: z.string().min(1).describe('JetStream deduplication id; equal to ce-id'),
    [CloudEventHeaders.traceparent]: z
      .string()
      .regex(TRACEPARENT_PATTERN)
      .optional()
      .describe('W3C trace context of the producer'),
    [CloudEventHeaders.tracestate]: z.string().optional().describe('W3C trace state'),
  })
  .catchall(z.string())
  .describe('CloudEvents 1.0 attributes in the NATS binary binding: one header each, the data is the JSON body');
export type CloudEventAttributes = z.infer<typeof CloudEventAttributes>;
