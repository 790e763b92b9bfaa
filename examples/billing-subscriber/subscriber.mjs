#!/usr/bin/env node
// A billing subscriber for the Twenty Tenant Manager, in plain JavaScript: it knows the system
// only through its published contract (the JSON Schemas in docs/schemas and the subject names),
// reads closed usage windows from the BILLING stream through its own durable pull consumer,
// validates each one and prints one invoice line per window.
//
//   NATS_URL=nats://127.0.0.1:4222 node examples/billing-subscriber/subscriber.mjs
//
// Environment (all optional):
//   NATS_URL               NATS server (default nats://127.0.0.1:4222)
//   BILLING_CONSUMER       durable consumer name (default billing-example); one name per subscriber
//   BILLING_GRANULARITY    only invoice windows of this length: hour, day or month (default: every window)
//   SCHEMA_DIR             where the JSON Schemas are (default: docs/schemas of this repository)
//   EXIT_WHEN_IDLE         1: exit once the stream has nothing more to deliver (a billing run), else keep following
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';

const STREAM = 'BILLING';
const SUBJECTS = 'billing.>';
const EVENT_TYPE = 'ttm.billing.window-closed.v1';

const here = dirname(fileURLToPath(import.meta.url));
const natsUrl = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const durable = process.env.BILLING_CONSUMER ?? 'billing-example';
const onlyGranularity = process.env.BILLING_GRANULARITY || undefined;
const schemaDir = process.env.SCHEMA_DIR ?? join(here, '..', '..', 'docs', 'schemas');
const exitWhenIdle = process.env.EXIT_WHEN_IDLE === '1';

// Our own price list, in USD. Counts are priced per unit; gauges (the peak level of the window)
// per unit-month, prorated by the window's length.
const PRICES = {
  api_calls: { unit: 'calls', perUnit: 0.00005 },
  storage_bytes: { unit: 'bytes', perUnitMonth: 0.1 / 1024 ** 3 },
  users: { unit: 'users', perUnitMonth: 8 },
};
const MONTH_MS = 30 * 24 * 3_600_000;

if (onlyGranularity && !['hour', 'day', 'month'].includes(onlyGranularity)) {
  console.error(`BILLING_GRANULARITY must be hour, day or month, not "${onlyGranularity}"`);
  process.exit(2);
}

// Validate with the exported contract, nothing else: the payload and the CloudEvents headers.
const ajv = new Ajv({ allErrors: true, strict: false });
addFormats(ajv);
const loadSchema = async (name) => JSON.parse(await readFile(join(schemaDir, name), 'utf8'));
const validateWindow = ajv.compile(await loadSchema(`${EVENT_TYPE}.json`));
const validateHeaders = ajv.compile(await loadSchema('cloudevent-attributes.json'));

function amountOf(window) {
  const price = PRICES[window.meter];
  if (!price) return undefined;
  if (price.perUnit !== undefined) return window.value * price.perUnit;
  const months = (Date.parse(window.windowEnd) - Date.parse(window.windowStart)) / MONTH_MS;
  return window.value * price.perUnitMonth * months;
}

function invoiceLine(window) {
  const amount = amountOf(window);
  return [
    'INVOICE',
    `tenant=${window.tenantId}`,
    `meter=${window.meter}`,
    `granularity=${window.granularity}`,
    `window=${window.windowStart}/${window.windowEnd}`,
    `quantity=${window.value}`,
    `unit=${PRICES[window.meter]?.unit ?? 'units'}`,
    `amount=${amount === undefined ? 'unpriced' : `USD ${amount.toFixed(6)}`}`,
  ].join(' ');
}

function headersOf(msg) {
  const headers = {};
  for (const key of msg.headers?.keys() ?? []) headers[key] = msg.headers.get(key);
  return headers;
}

const nc = await connect({ servers: natsUrl, name: `billing-subscriber:${durable}` });
const jsm = await jetstreamManager(nc);
// Our own durable consumer: the server remembers what we acknowledged, so a restart goes on
// from there. Creating it again with the same settings is a no-op.
await jsm.consumers.add(STREAM, {
  durable_name: durable,
  description: 'Example billing subscriber: one invoice line per closed usage window',
  filter_subject: SUBJECTS,
  ack_policy: 'explicit',
  deliver_policy: 'all',
  ack_wait: 30_000_000_000,
  max_deliver: 10,
});
const consumer = await jetstream(nc).consumers.get(STREAM, durable);
console.error(`billing subscriber: consumer ${durable} on ${STREAM} at ${natsUrl}`);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    stopping = true;
  });
}

let printed = 0;
while (!stopping) {
  const batch = await consumer.fetch({ max_messages: 100, expires: 1_000 });
  let received = 0;
  for await (const msg of batch) {
    received++;
    const headers = headersOf(msg);
    const type = headers['ce-type'];
    if (type !== EVENT_TYPE) {
      // Another (e.g. a newer) version: this subscriber does not understand it; skip it for good.
      console.error(`skipping ${msg.subject} seq ${msg.seq}: type ${type ?? '(none)'} is not ${EVENT_TYPE}`);
      await msg.ackAck();
      continue;
    }
    let window;
    try {
      window = msg.json();
    } catch {
      window = undefined;
    }
    if (!validateHeaders(headers) || window === undefined || !validateWindow(window)) {
      const errors = ajv.errorsText(validateHeaders.errors ?? validateWindow.errors ?? null);
      console.error(`rejecting ${msg.subject} seq ${msg.seq}: breaks ${EVENT_TYPE}: ${errors}`);
      msg.term();
      continue;
    }
    if (!onlyGranularity || window.granularity === onlyGranularity) {
      console.log(invoiceLine(window));
      printed++;
    }
    // Acknowledged only once printed, and confirmed by the server before going on: a restart
    // never prints it again (a crash between the two can: the ce-id identifies the window).
    await msg.ackAck();
  }
  if (received === 0 && exitWhenIdle) break;
}

console.error(`billing subscriber: ${printed} invoice lines; stopping`);
await nc.drain();
