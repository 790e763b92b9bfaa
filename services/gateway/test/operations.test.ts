import { randomUUID } from 'node:crypto';
import { type DataOf, encodeMessage, Subjects, TenantRegistered } from '@ttm/contracts';
import { publishMessage } from '@ttm/service-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json } from '../../../test/support/http.js';
import { eventually, startStack, type TestStack } from '../../../test/support/stack.js';
import { publishRegistration } from '../../../test/support/tenants.js';
import type { Operation, ProvisioningState } from '../src/features/operations/operation.js';
import type { Problem } from '../src/problems.js';

let stack: TestStack;

interface Registration {
  provisioningId: string;
  tenantId: string;
}

function register(name: string, plan = 'pro'): Promise<Registration> {
  return publishRegistration(stack.gateway!.deps.js, name, plan);
}

/** A registration recorded without the provisioner: it stays pending. */
async function registerPending(): Promise<Registration> {
  const ids = { provisioningId: randomUUID(), tenantId: randomUUID() };
  const data: DataOf<typeof TenantRegistered> = {
    ...ids,
    organizationName: 'Waiting Ltd',
    adminEmail: 'admin@waiting.test',
    plan: 'free',
    region: 'us-east-1',
    registeredAt: new Date().toISOString(),
  };
  await publishMessage(
    stack.gateway!.deps.js,
    Subjects.tenantEvents(ids.tenantId),
    encodeMessage(TenantRegistered, data, { source: '/test', subject: ids.tenantId }),
  );
  return ids;
}

interface SseEvent {
  event: string;
  data: string;
}

/** The events of a stream, read until the server ends it or `stopAfter` says so. */
async function readEvents(response: Response, stopAfter?: (event: SseEvent) => boolean): Promise<SseEvent[]> {
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  const events: SseEvent[] = [];
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return events;
    buffer += value;
    let end = buffer.indexOf('\n\n');
    while (end !== -1) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      end = buffer.indexOf('\n\n');
      const lines = block.split('\n').filter((line) => !line.startsWith(':'));
      if (lines.length === 0) continue;
      const field = (name: string) =>
        lines
          .filter((l) => l.startsWith(`${name}: `))
          .map((l) => l.slice(name.length + 2))
          .join('\n');
      const event = { event: field('event'), data: field('data') };
      events.push(event);
      if (stopAfter?.(event)) {
        await reader.cancel();
        return events;
      }
    }
  }
}

const tracker = () => stack.gateway!.deps.operations;

beforeAll(async () => {
  stack = await startStack();
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

describe('provisioning as an operation', () => {
  let finished: Registration;

  it('streams its progress as Server-Sent Events, from before the provisioner saw it to succeeded', async () => {
    const ids = { provisioningId: randomUUID(), tenantId: randomUUID() };
    // Opened before the command exists: the route waits for the operation's first event.
    const opened = fetch(`${stack.url}/api/operations/${ids.provisioningId}/events`, {
      headers: { accept: 'text/event-stream' },
    });
    await publishRegistration(stack.gateway!.deps.js, 'Streamed Co', 'pro', ids);
    const response = await opened;
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(response.headers.get('x-request-id')).toBeTruthy();

    const events = await readEvents(response);
    expect(events.length).toBeGreaterThanOrEqual(2);
    expect(events.every((e) => e.event === 'operation')).toBe(true);
    const operations = events.map((e) => JSON.parse(e.data) as Operation);
    const progress = operations.map((o) => o.progress);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect(operations.slice(0, -1).every((o) => o.status === 'pending' || o.status === 'running')).toBe(true);
    expect(operations.some((o) => o.status === 'running' && o.progress > 0 && o.progress < 100)).toBe(true);
    expect(operations.at(-1)).toMatchObject({
      id: ids.provisioningId,
      kind: 'provisioning',
      tenant_id: ids.tenantId,
      status: 'succeeded',
      progress: 100,
      step: 'activate',
      result: { tenant_id: ids.tenantId, slug: 'streamed-co' },
    });
    expect(operations.at(-1)?.error).toBeUndefined();
    expect(tracker().watching).toBe(0);
    finished = ids;
  });

  it('answers the finished provisioning on the operation and provisioning-status routes', async () => {
    const operation = await json<Operation>(await fetch(`${stack.url}/api/operations/${finished.provisioningId}`));
    expect(operation).toMatchObject({
      id: finished.provisioningId,
      kind: 'provisioning',
      status: 'succeeded',
      progress: 100,
      result: { tenant_id: finished.tenantId, slug: 'streamed-co' },
    });
    expect(Date.parse(operation.updated_at)).toBeGreaterThan(Date.parse(operation.started_at));

    const status = await json<ProvisioningState>(
      await fetch(`${stack.url}/api/auth/provisioning-status/${finished.provisioningId}`),
    );
    expect(status).toEqual({
      provisioning_id: finished.provisioningId,
      tenant_id: finished.tenantId,
      status: 'active',
      progress: 100,
      step: 'activate',
      slug: 'streamed-co',
    });

    // A finished operation's stream is its one state, then the end.
    const events = await readEvents(await fetch(`${stack.url}/api/operations/${finished.provisioningId}/events`));
    expect(events.map((e) => (JSON.parse(e.data) as Operation).status)).toEqual(['succeeded']);
  });

  it('is polled through provisioning-status from the moment of registration to active', async () => {
    const ids = await register('Polled Inc');
    const seen: ProvisioningState[] = [];
    await eventually(async () => {
      const status = await json<ProvisioningState>(
        await fetch(`${stack.url}/api/auth/provisioning-status/${ids.provisioningId}`),
      );
      seen.push(status);
      return status.status === 'active' ? status : undefined;
    }, 15_000);
    expect(seen[0]?.status).toMatch(/^(pending|provisioning|active)$/);
    expect(seen.at(-1)).toMatchObject({ tenant_id: ids.tenantId, progress: 100, slug: 'polled-inc' });
    const progress = seen.map((s) => s.progress);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
  });

  it('reports a failed provisioning with its reason', async () => {
    // A plan the provisioner does not know fails at apply-quotas, after its retries.
    const ids = await register('Doomed Plan', 'platinum');
    const events = await readEvents(await fetch(`${stack.url}/api/operations/${ids.provisioningId}/events`));
    const last = JSON.parse(events.at(-1)!.data) as Operation;
    expect(last).toMatchObject({ status: 'failed', step: 'apply-quotas' });
    expect(last.error).toContain('platinum');
    expect(last.result).toBeUndefined();
    const status = await json<ProvisioningState>(
      await fetch(`${stack.url}/api/auth/provisioning-status/${ids.provisioningId}`),
    );
    expect(status).toMatchObject({ status: 'failed', error: expect.stringContaining('platinum') });
  });

  it('lets go of a stream whose client left', async () => {
    const pending = await registerPending();
    const leave = new AbortController();
    const response = await fetch(`${stack.url}/api/operations/${pending.provisioningId}/events`, {
      signal: leave.signal,
    });
    const [first] = await readEvents(response, () => true);
    expect(JSON.parse(first!.data)).toMatchObject({ status: 'pending', progress: 0, step: null });
    leave.abort();
    await eventually(() => (tracker().watching === 0 ? true : undefined));
  });

  it('answers 404 for an id nobody knows (after a short grace) and 400 for one that is not a uuid', async () => {
    const unknown = randomUUID();
    const paths = [
      `/api/operations/${unknown}`,
      `/api/operations/${unknown}/events`,
      `/api/auth/provisioning-status/${unknown}`,
    ];
    const started = Date.now();
    const answers = await Promise.all(paths.map((path) => fetch(`${stack.url}${path}`)));
    for (const response of answers) {
      const problem = await json<Problem>(response, 404);
      expect(problem.type).toBe('https://ttm.dev/problems/operation-not-found');
      expect(response.headers.get('content-type')).toBe('application/problem+json; charset=utf-8');
    }
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(tracker().watching).toBe(0);
    for (const path of ['/api/operations/nope', '/api/operations/nope/events', '/api/auth/provisioning-status/1']) {
      expect((await fetch(`${stack.url}${path}`)).status).toBe(400);
    }
  });

  it('answers from the projection after a restart, with the same times', async () => {
    const before = await json<Operation>(await fetch(`${stack.url}/api/operations/${finished.provisioningId}`));
    await stack.gateway!.stop();
    await stack.startGateway();
    const after = await json<Operation>(await fetch(`${stack.url}/api/operations/${finished.provisioningId}`));
    expect(after).toEqual(before);
  });
});

describe('documentation', () => {
  it('documents the routes, the event stream as text/event-stream', async () => {
    const document = await json<{ paths: Record<string, Record<string, { responses: Record<string, unknown> }>> }>(
      await fetch(`${stack.url}/docs/openapi.json`),
    );
    expect(Object.keys(document.paths)).toEqual(
      expect.arrayContaining([
        '/api/operations/{id}',
        '/api/operations/{id}/events',
        '/api/auth/provisioning-status/{id}',
      ]),
    );
    expect(document.paths['/api/operations/{id}/events']?.get?.responses['200']).toMatchObject({
      content: { 'text/event-stream': expect.any(Object) },
    });
  });
});

describe('metrics', () => {
  it('exposes active tenants, the provisioning queue, the directory hit rate and projection lag', async () => {
    const text = await (await fetch(`${stack.url}/metrics`)).text();
    const value = (name: string, labels = '') => {
      const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
      return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
    };
    expect(value('active_tenants')).toBe(2); // Streamed Co and Polled Inc
    expect(value('provisioning_queue_depth')).toBe(0);
    const hitRate = value('cache_hit_rate');
    expect(hitRate).toBeGreaterThanOrEqual(0);
    expect(hitRate).toBeLessThanOrEqual(1);
    expect(value('projection_lag_events', 'projection="gateway-tenants"')).toBeGreaterThanOrEqual(0);
    expect(value('projection_lag_events', 'projection="gateway-audit"')).toBeGreaterThanOrEqual(0);
  });
});
