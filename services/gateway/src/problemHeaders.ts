/**
 * Attach response headers to an error: the problem-details handler sends `error.headers`
 * with the problem (Retry-After on 429, WWW-Authenticate on 401).
 */
export function withHeaders<E extends Error>(error: E, headers: Record<string, string>): E {
  const existing = (error as { headers?: Record<string, string> }).headers;
  return Object.assign(error, { headers: { ...existing, ...headers } });
}
