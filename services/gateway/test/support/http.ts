import { expect } from 'vitest';
import { TEST_ADMIN_KEY } from '../../../../test/support/stack.js';
import type { Problem } from '../../src/problems.js';

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
