import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json } from '../../../test/support/http.js';
import { startStack, type TestStack } from '../../../test/support/stack.js';
import { publishRegistration } from '../../../test/support/tenants.js';
import type { Operation, ProvisioningState } from '../src/features/operations/operation.js';

let stack: TestStack;

beforeAll(async () => {
  stack = await startStack();
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

/** PostgreSQL queries the gateway's pool runs from the operation routes' code, counted while they are polled. */
function countStatusQueries(): { queries: string[]; restore: () => void } {
  const pool = stack.gateway!.service.pool!;
  const queries: string[] = [];
  const fromStatusCode = () => /features[\\/]operations[\\/]/.test(new Error().stack ?? '');
  const query = pool.query.bind(pool);
  const connect = pool.connect.bind(pool);
  // Wrapped in place: every query of the running gateway goes through these two.
  pool.query = ((...args: Parameters<typeof query>) => {
    if (fromStatusCode()) queries.push(String(args[0]));
    return query(...args);
  }) as typeof pool.query;
  pool.connect = ((...args: Parameters<typeof connect>) => {
    if (fromStatusCode()) queries.push('connect');
    return connect(...args);
  }) as typeof pool.connect;
  return {
    queries,
    restore: () => {
      pool.query = query as typeof pool.query;
      pool.connect = connect as typeof pool.connect;
    },
  };
}

async function register(name: string): Promise<string> {
  return (await publishRegistration(stack.gateway!.deps.js, name)).provisioningId;
}

describe('the provisioning status read', () => {
  it('answers from memory: polled every 25 ms through a burst of provisionings, it never queries PostgreSQL', async () => {
    const counter = countStatusQueries();
    try {
      const ids = await Promise.all(Array.from({ length: 5 }, (_, i) => register(`Polled Burst ${i}`)));
      const seen = new Set<string>();
      await Promise.all(
        ids.map(async (id) => {
          for (;;) {
            const [operation, status] = await Promise.all([
              fetch(`${stack.url}/api/operations/${id}`),
              fetch(`${stack.url}/api/auth/provisioning-status/${id}`),
            ]);
            expect(operation.status).toBe(200);
            expect(status.status).toBe(200);
            const op = await json<Operation>(operation);
            await json<ProvisioningState>(status);
            seen.add(op.status);
            if (op.status === 'succeeded') return;
            expect(op.status).not.toBe('failed');
            await new Promise((resolve) => setTimeout(resolve, 25));
          }
        }),
      );
      expect(seen.has('succeeded')).toBe(true);
    } finally {
      counter.restore();
    }
    expect(counter.queries).toEqual([]);
  }, 120_000);

  it('answers pending, not 404, for a registration accepted while the provisioner has not taken it up yet', async () => {
    // In a burst the provisioner takes PROVISIONER_CONCURRENCY commands at a time: the rest wait
    // in the stream with no event yet. Stopped, it takes none: the same for the status route.
    await stack.stopProvisioner();
    try {
      const accepted = await stack.gateway!.app.inject({
        method: 'POST',
        url: '/api/auth/register-organization',
        payload: {
          organization_name: 'Queued Corp',
          admin_email: 'admin@queued.test',
          admin_password: 'correct-Horse-battery-9',
          plan: 'pro',
        },
      });
      expect(accepted.statusCode, accepted.body).toBe(202);
      const { provisioning_id: id, tenant_id: tenantId } = accepted.json<{
        provisioning_id: string;
        tenant_id: string;
      }>();
      const status = await fetch(`${stack.url}${accepted.headers.location}`);
      expect(status.status).toBe(200);
      expect(await json<ProvisioningState>(status)).toEqual({
        provisioning_id: id,
        tenant_id: tenantId,
        status: 'pending',
        progress: 0,
        step: null,
        slug: null,
      });
      // An id nobody registered is still unknown.
      expect((await fetch(`${stack.url}/api/auth/provisioning-status/${randomUUID()}`)).status).toBe(404);

      await stack.startProvisioner();
      for (;;) {
        const state = await json<ProvisioningState>(await fetch(`${stack.url}${accepted.headers.location}`));
        expect(state.status).not.toBe('failed');
        if (state.status === 'active') break;
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    } finally {
      if (!stack.provisioner) await stack.startProvisioner();
    }
  }, 120_000);
});
