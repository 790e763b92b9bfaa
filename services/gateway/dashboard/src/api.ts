/** The admin REST API, called with the session cookie (same origin) and the CSRF header. */
export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Problem,
    readonly retryAfter: string | null,
  ) {
    super(problem.detail ?? problem.title ?? `HTTP ${status}`);
  }
}

let onSignedOut: () => void = () => undefined;

/** What to do when a call answers 401 (the session expired): show the sign-in form. */
export function whenSignedOut(handler: () => void): void {
  onSignedOut = handler;
}

export async function api<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const response = await fetch(path, {
    method: init.method ?? 'GET',
    credentials: 'same-origin',
    headers: {
      accept: 'application/json',
      'x-ttm-csrf': '1',
      ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  const text = await response.text();
  const body: unknown = text ? JSON.parse(text) : undefined;
  if (!response.ok) {
    if (response.status === 401 && path !== '/api/dashboard/session') onSignedOut();
    throw new ApiError(response.status, (body ?? {}) as Problem, response.headers.get('retry-after'));
  }
  return body as T;
}
