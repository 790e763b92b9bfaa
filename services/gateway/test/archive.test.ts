import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminFetch, json, problem, signUp } from '../../../test/support/http.js';
import { regionUrl } from '../../../test/support/migrations.js';
import { eventually, startConnectedStack, stopConnectedStack, type TestStack } from '../../../test/support/stack.js';
import { schemaChecksums } from '../../../test/support/tenants.js';
import type { AcceptedOperation } from '../src/features/backups/schemas.js';

const PASSWORD = 'archive-me-later-please-42';
let stack: TestStack;
let nc: NatsConnection;

beforeAll(async () => {
  ({ stack, nc } = await startConnectedStack({ backup: true, env: { BACKUP_SCHEDULE_EVERY: '0' } }));
}, 60_000);

afterAll(() => stopConnectedStack({ stack, nc }));

const admin = adminFetch(() => stack.url);

function call(method: string, path: string, token: string, body?: unknown): Promise<Response> {
  return fetch(`${stack.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
}

async function tenantStatus(tenantId: string): Promise<string> {
  return ((await (await admin(`/api/admin/tenants/${tenantId}`)).json()) as { status: string }).status;
}

describe('an archived tenant', () => {
  it('answers 409 tenant-archived, and its next sign-in answers 202 and brings back identical data', async () => {
    const email = 'owner@archived.test';
    const { entry, token } = await signUp(stack.gateway!, {
      name: 'Archived Org',
      email,
      password: PASSWORD,
      plan: 'pro',
    });
    for (let i = 0; i < 5; i++) {
      const created = await call('POST', '/api/tenant/objects/company', token, { name: `Company ${i}` });
      expect(created.status, await created.text()).toBe(201);
    }
    const placement = entry.placement!;
    const url = regionUrl(stack, placement.region as 'us-east-1', placement.database);
    const before = await schemaChecksums(url, placement.schema);

    const archived = await admin(`/api/admin/tenants/${entry.tenantId}/archive`, { method: 'POST' });
    const accepted = await json<AcceptedOperation>(archived, 202);
    expect(archived.headers.get('location')).toBe(`/api/operations/${accepted.operation_id}`);
    await eventually(async () => ((await tenantStatus(entry.tenantId)) === 'archived' ? true : undefined), 60_000);
    // A second archive is refused with the state it found.
    expect(
      (await problem(await admin(`/api/admin/tenants/${entry.tenantId}/archive`, { method: 'POST' }), 409)).code,
    ).toBe('TTM_TENANT_STATE_CONFLICT');

    const refused = await problem(await call('GET', '/api/tenant/objects/company', token), 409);
    expect(refused.code).toBe('TTM_TENANT_ARCHIVED');
    expect(refused.type).toMatch(/tenant-archived$/);

    const login = await fetch(`${stack.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password: PASSWORD }),
    });
    const restoring = await json<{ status: string; operation_id: string; access_token: string }>(login, 202);
    expect(restoring.status).toBe('restoring');
    expect(login.headers.get('location')).toBe(`/api/operations/${restoring.operation_id}`);
    // A sign-in while it runs names the same operation.
    const again = await fetch(`${stack.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password: PASSWORD }),
    });
    if (again.status === 202) {
      expect(((await again.json()) as { operation_id: string }).operation_id).toBe(restoring.operation_id);
    } else {
      expect(again.status).toBe(200); // the restore finished in between
    }

    const done = await eventually(async () => {
      const response = await call('GET', `/api/operations/${restoring.operation_id}`, restoring.access_token);
      if (response.status !== 200) return undefined;
      const operation = (await response.json()) as { status: string; kind: string; progress: number };
      return operation.status === 'succeeded' || operation.status === 'failed' ? operation : undefined;
    }, 60_000);
    expect(done).toMatchObject({ status: 'succeeded', kind: 'restore', progress: 100 });
    await eventually(async () => ((await tenantStatus(entry.tenantId)) === 'active' ? true : undefined), 30_000);
    expect(await schemaChecksums(url, placement.schema)).toEqual(before);
    const listed = await json<{ items: unknown[] }>(
      await call('GET', '/api/tenant/objects/company', restoring.access_token),
    );
    expect(listed.items).toHaveLength(5);
  }, 180_000);

  it('unarchive of a tenant that is not archived is a 409', async () => {
    const { entry } = await signUp(stack.gateway!, {
      name: 'Live Org',
      email: 'owner@live.test',
      password: PASSWORD,
      plan: 'pro',
    });
    const response = await admin(`/api/admin/tenants/${entry.tenantId}/unarchive`, { method: 'POST' });
    expect((await problem(response, 409)).code).toBe('TTM_TENANT_STATE_CONFLICT');
  }, 60_000);
});
