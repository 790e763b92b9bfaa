import { until } from './polling.js';

/** The password of every bench tenant's admin. */
export const BENCH_PASSWORD = 'bench-Password-123';

/** A plan whose quotas and rate limit no bench reaches, with the backup schedule `backups`. */
export function unmeteredPlan(name: string, backups: { scheduleEveryMs: number; keepLast: number }) {
  return {
    name,
    quotas: { storage_bytes: 1024 ** 4, users: 1_000, api_calls_per_month: 1_000_000_000 },
    rateLimit: { requests: 1_000_000_000, windowMs: 60_000 },
    backups: { ...backups, keepDaily: 0, keepWeekly: 0 },
  };
}

/** A bench's HTTP calls to the gateway: the admin key unless a tenant token is given. */
export function gatewayClient(baseUrl: string, adminKey: string) {
  const api = (path: string, init: RequestInit & { token?: string } = {}) =>
    fetch(`${baseUrl}${path}`, {
      ...init,
      headers: {
        ...(init.token ? { authorization: `Bearer ${init.token}` } : { 'x-admin-key': adminKey }),
        ...(init.body ? { 'content-type': 'application/json' } : {}),
      },
    });
  /** The body of a response with one of the `expected` statuses; anything else throws with the body. */
  const json = async <T>(response: Response, expected: number[] = [200]): Promise<T> => {
    const text = await response.text();
    if (!expected.includes(response.status)) throw new Error(`${response.url}: HTTP ${response.status}: ${text}`);
    return JSON.parse(text) as T;
  };
  /**
   * Register an organization as its admin would (password `BENCH_PASSWORD`) and wait until it is
   * active; returns its tenant id. A failed provisioning throws.
   */
  const signUp = async (
    organization: { name: string; email: string; plan: string; region?: string },
    timeoutMs: number,
  ): Promise<string> => {
    const accepted = await json<{ provisioning_id: string; tenant_id: string }>(
      await api('/api/auth/register-organization', {
        method: 'POST',
        body: JSON.stringify({
          organization_name: organization.name,
          admin_email: organization.email,
          admin_password: BENCH_PASSWORD,
          plan: organization.plan,
          ...(organization.region ? { region: organization.region } : {}),
        }),
      }),
      [202],
    );
    await until(
      async () => {
        const s = await json<{ status: string }>(
          await api(`/api/auth/provisioning-status/${accepted.provisioning_id}`),
        );
        if (s.status === 'failed') throw new Error('provisioning failed');
        return s.status === 'active';
      },
      timeoutMs,
      100,
    );
    return accepted.tenant_id;
  };
  /** An access token for a tenant's admin, asked for again until the gateway knows the account. */
  const logIn = (email: string, timeoutMs = 15_000): Promise<string> =>
    until(
      async () => {
        const response = await api('/api/auth/login', {
          method: 'POST',
          body: JSON.stringify({ email, password: BENCH_PASSWORD }),
        });
        if (response.status !== 200) {
          await response.text();
          return undefined;
        }
        return ((await response.json()) as { access_token: string }).access_token;
      },
      timeoutMs,
      100,
    );
  return { api, json, signUp, logIn };
}
