import type { DirectoryEntry, Gateway, Problem } from '@ttm/gateway';
import { expect } from 'vitest';
import { eventually, TEST_ADMIN_KEY } from './stack.js';

/**
 * A fetch of the admin API at the base URL `base()` returns (read per call: the stack starts in
 * `beforeAll`), with the admin key, JSON content type when there is a body, and `headers`.
 */
export function adminFetch(
  base: () => string,
  headers: Record<string, string> = {},
): (path: string, init?: RequestInit) => Promise<Response> {
  return (path, init = {}) =>
    fetch(`${base()}${path}`, {
      ...init,
      headers: {
        'x-admin-key': TEST_ADMIN_KEY,
        ...headers,
        ...(init.body ? { 'content-type': 'application/json' } : {}),
        ...init.headers,
      },
    });
}

/** The body of a response with the expected status (the body is shown when it is another). */
export async function json<T>(response: Response, status = 200): Promise<T> {
  const text = await response.text();
  expect(response.status, text).toBe(status);
  return JSON.parse(text) as T;
}

/** An RFC 9457 problem with the expected status and content type. */
export async function problem(response: Response, status: number): Promise<Problem> {
  expect(response.headers.get('content-type')).toBe('application/problem+json; charset=utf-8');
  return json<Problem>(response, status);
}

export interface SignedUp {
  /** The tenant as the directory holds it once active. */
  entry: DirectoryEntry;
  /** The admin's access token and user id. */
  token: string;
  userId: string;
}

/** Register an organization through the gateway, wait until it is active, log its admin in. */
export async function signUp(
  gateway: Gateway,
  organization: { name: string; email: string; password: string; plan: string },
  timeoutMs = 30_000,
): Promise<SignedUp> {
  const registered = await gateway.app.inject({
    method: 'POST',
    url: '/api/auth/register-organization',
    payload: {
      organization_name: organization.name,
      admin_email: organization.email,
      admin_password: organization.password,
      plan: organization.plan,
    },
  });
  expect(registered.statusCode, registered.body).toBe(202);
  const { provisioning_id } = registered.json<{ provisioning_id: string }>();
  const entry = await eventually(() => {
    const e = gateway.deps.directory.byProvisioningId(provisioning_id);
    return e?.status === 'active' ? e : undefined;
  }, timeoutMs);
  const login = await gateway.app.inject({
    method: 'POST',
    url: '/api/auth/login',
    payload: { email: organization.email, password: organization.password },
  });
  expect(login.statusCode, login.body).toBe(200);
  const tokens = login.json<{ access_token: string; user: { id: string } }>();
  return { entry, token: tokens.access_token, userId: tokens.user.id };
}
