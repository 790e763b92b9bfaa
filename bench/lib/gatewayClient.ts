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
  return { api, json };
}
