import { randomUUID } from 'node:crypto';
import { context, propagation, TraceFlags, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  ActivateTenant,
  type ConsumerDefinition,
  encodeMessage,
  Streams,
  Subjects,
  SuspendTenant,
} from '@ttm/contracts';
import { type Counter, Registry } from 'prom-client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type CommandHandler, runCommandConsumer, UnprocessableCommand } from '../src/consumers/commandConsumer.js';
import { DeadLetterHeaders, natsHeadersFrom, publishMessage, type ReceivedEvent } from '../src/messaging.js';
import {
  addConsumer,
  messagesOn,
  silentLogger,
  startJetStream,
  type TestJetStream,
  waitUntil,
} from './support/jetstream.js';
import { expectStopWaitsForHeldHandler, handlerGate } from './support/shutdown.js';

const consumer: ConsumerDefinition = {
  stream: Streams.COMMANDS,
  durable: 'test-commands',
  description: 'test: commands on cmd.tenant.>',
  filterSubject: 'cmd.tenant.>',
  maxDeliver: 4,
  ackWaitSeconds: 2,
  maxAckPending: 16,
  owner: 'provisioner',
  kind: 'commands',
};
const deadLetterSubject = Subjects.deadLetter(Streams.COMMANDS, consumer.durable);

let nats: TestJetStream;
/** The handler the running consumer calls; each test sets its own. */
let handleSuspend: CommandHandler;

beforeAll(async () => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  nats = await startJetStream([Streams.COMMANDS, Streams.DEADLETTER]);
  await addConsumer(nats.jsm, consumer);
});

afterAll(async () => {
  await nats?.close();
  propagation.disable();
  context.disable();
});

beforeEach(async () => {
  handleSuspend = async () => undefined;
  await nats.jsm.streams.purge(Streams.DEADLETTER);
});

function suspendCommand(reason = 'unpaid invoices') {
  return encodeMessage(
    SuspendTenant,
    { tenantId: randomUUID(), reason, actor: { kind: 'admin', id: 'ops@example.com' } },
    { source: '/ttm/test' },
  );
}

function start(options: { concurrency?: number; metrics?: Registry } = {}) {
  const controller = new AbortController();
  const done = runCommandConsumer({
    js: nats.js,
    consumer,
    handlers: { [SuspendTenant.type]: (command) => handleSuspend(command) },
    logger: silentLogger,
    signal: controller.signal,
    retry: { baseMs: 50, maxMs: 100 },
    ...options,
  });
  return {
    done,
    async stop() {
      controller.abort();
      await done;
    },
  };
}

const queued = async () => (await nats.jsm.streams.info(Streams.COMMANDS)).state.messages;
const deadLetters = () => messagesOn(nats.jsm, Streams.DEADLETTER, deadLetterSubject);

describe('runCommandConsumer', () => {
  it('handles a valid command once and removes it from the work queue', async () => {
    const seen: ReceivedEvent[] = [];
    handleSuspend = async (command) => {
      seen.push(command);
    };
    const metrics = new Registry();
    const runner = start({ metrics });
    const command = suspendCommand();
    await publishMessage(nats.js, SuspendTenant.subject, command);
    await waitUntil('the command handled and removed', async () => seen.length === 1 && (await queued()) === 0);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await runner.stop();

    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({
      meta: { id: command.meta.id, type: SuspendTenant.type, source: '/ttm/test' },
      data: { reason: 'unpaid invoices' },
      subject: SuspendTenant.subject,
      deliveryCount: 1,
    });
    const counter = metrics.getSingleMetric('ttm_commands_total') as Counter;
    expect((await counter.get()).values).toEqual([
      expect.objectContaining({
        value: 1,
        labels: expect.objectContaining({ outcome: 'handled', type: SuspendTenant.type }),
      }),
    ]);
  });

  it('dead-letters a bad payload, a bad envelope and a command without handler, with the reason, and removes them', async () => {
    let calls = 0;
    handleSuspend = async () => {
      calls++;
    };
    const runner = start();
    const valid = suspendCommand();
    const badPayload = await nats.js.publish(SuspendTenant.subject, '{"tenantId":"nope"}', {
      headers: natsHeadersFrom(valid.headers),
    });
    const badEnvelope = await nats.js.publish(SuspendTenant.subject, 'not a cloud event');
    const unhandled = encodeMessage(
      ActivateTenant,
      { tenantId: randomUUID(), actor: { kind: 'admin', id: 'ops@example.com' } },
      { source: '/ttm/test' },
    );
    const noHandler = await publishMessage(nats.js, ActivateTenant.subject, unhandled);
    await waitUntil('three dead letters', async () => (await deadLetters()).length === 3);
    await waitUntil('the work queue emptied', async () => (await queued()) === 0);
    await runner.stop();

    expect(calls).toBe(0);
    const bySeq = new Map((await deadLetters()).map((d) => [d.headers[DeadLetterHeaders.originalSeq], d]));
    const payload = bySeq.get(String(badPayload.seq));
    expect(payload?.headers).toMatchObject({
      [DeadLetterHeaders.originalSubject]: SuspendTenant.subject,
      [DeadLetterHeaders.originalStream]: Streams.COMMANDS,
      [DeadLetterHeaders.deliveryCount]: '1',
      'ce-id': valid.meta.id,
    });
    expect(payload?.headers[DeadLetterHeaders.reason]).toMatch(
      /breaks its contract: invalid ttm.tenant.suspend.v1 payload: tenantId/,
    );
    expect(payload?.data).toBe('{"tenantId":"nope"}');
    expect(bySeq.get(String(badEnvelope.seq))?.headers[DeadLetterHeaders.reason]).toMatch(
      /invalid CloudEvent envelope/,
    );
    expect(bySeq.get(String(noHandler.seq))?.headers[DeadLetterHeaders.reason]).toMatch(
      /no handler for ttm.tenant.activate.v1/,
    );
  });

  it('retries a handler that fails twice, then succeeds, without dead-lettering', async () => {
    const deliveries: number[] = [];
    handleSuspend = async (command) => {
      deliveries.push(command.deliveryCount);
      if (command.deliveryCount < 3) throw new Error('provisioning database unreachable');
    };
    const runner = start();
    await publishMessage(nats.js, SuspendTenant.subject, suspendCommand());
    await waitUntil('the third delivery handled', async () => deliveries.length === 3 && (await queued()) === 0);
    await runner.stop();

    expect(deliveries).toEqual([1, 2, 3]);
    expect(await deadLetters()).toEqual([]);
  });

  it('dead-letters on the last allowed delivery a command whose handler always fails', async () => {
    const deliveries: number[] = [];
    handleSuspend = async (command) => {
      deliveries.push(command.deliveryCount);
      throw new Error('still failing');
    };
    const runner = start();
    const ack = await publishMessage(nats.js, SuspendTenant.subject, suspendCommand());
    await waitUntil('a dead letter', async () => (await deadLetters()).length === 1);
    await waitUntil('the work queue emptied', async () => (await queued()) === 0);
    await runner.stop();

    expect(deliveries).toEqual([1, 2, 3, 4]);
    const [dead] = await deadLetters();
    expect(dead?.headers[DeadLetterHeaders.originalSeq]).toBe(String(ack.seq));
    expect(dead?.headers[DeadLetterHeaders.reason]).toBe('handler failed on delivery 4 of 4: still failing');
  });

  it('dead-letters at once a command the handler declares unprocessable', async () => {
    let calls = 0;
    handleSuspend = async () => {
      calls++;
      throw new UnprocessableCommand('tenant does not exist');
    };
    const runner = start();
    await publishMessage(nats.js, SuspendTenant.subject, suspendCommand());
    await waitUntil('a dead letter', async () => (await deadLetters()).length === 1);
    await waitUntil('the work queue emptied', async () => (await queued()) === 0);
    await runner.stop();
    expect(calls).toBe(1);
    expect((await deadLetters())[0]?.headers[DeadLetterHeaders.reason]).toMatch(/tenant does not exist/);
  });

  it('runs the handler inside the trace context the command was sent with', async () => {
    let seenTraceId: string | undefined;
    handleSuspend = async () => {
      seenTraceId = trace.getActiveSpan()?.spanContext().traceId;
    };
    const runner = start();
    const traceId = randomUUID().replaceAll('-', '');
    const sender = trace.setSpanContext(context.active(), {
      traceId,
      spanId: traceId.slice(0, 16),
      traceFlags: TraceFlags.SAMPLED,
    });
    await context.with(sender, () => publishMessage(nats.js, SuspendTenant.subject, suspendCommand()));
    await waitUntil('the command handled', () => seenTraceId !== undefined);
    await runner.stop();
    expect(seenTraceId).toBe(traceId);
  });

  it('handles up to `concurrency` commands at once', async () => {
    let running = 0;
    let most = 0;
    let handled = 0;
    handleSuspend = async () => {
      running++;
      most = Math.max(most, running);
      await new Promise((resolve) => setTimeout(resolve, 100));
      running--;
      handled++;
    };
    const runner = start({ concurrency: 3 });
    for (let i = 0; i < 9; i++) await publishMessage(nats.js, SuspendTenant.subject, suspendCommand());
    await waitUntil('all nine handled', async () => handled === 9 && (await queued()) === 0);
    await runner.stop();
    expect(most).toBe(3);
  });

  it('on shutdown finishes the command in hand, then resolves', async () => {
    const gate = handlerGate();
    let finished = false;
    handleSuspend = async () => {
      await gate.hold();
      finished = true;
    };
    const runner = start();
    await publishMessage(nats.js, SuspendTenant.subject, suspendCommand());
    await gate.entered;
    await expectStopWaitsForHeldHandler(runner, gate);
    expect(finished).toBe(true);
    expect(await queued()).toBe(0);

    // An idle consumer stops at once.
    const idle = start();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const began = Date.now();
    await idle.stop();
    expect(Date.now() - began).toBeLessThan(1_000);
  });
});
