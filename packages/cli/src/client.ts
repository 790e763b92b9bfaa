import { ApiError, ConnectionError, type Problem, UsageError } from './errors.js';
import { readSse, type SseEvent } from './sse.js';

export interface ClientOptions {
  /** Gateway base URL, e.g. http://127.0.0.1:3000. */
  baseUrl: string;
  /** Sent as `X-Admin-Key` on admin routes. */
  adminKey?: string | undefined;
  /** Limit for one request; event streams have none. Default 30 s. */
  timeoutMs?: number;
}

export type Query = Record<string, string | number | undefined>;

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  headers?: Record<string, string>;
  /** An admin route: needs the admin key. */
  admin?: boolean;
  /** Cancels the request; its reason is what the call then throws. */
  signal?: AbortSignal;
}

/** The gateway's REST API: JSON in, JSON or problem+json out, plus event streams. */
export class TtmClient {
  readonly baseUrl: string;
  private readonly timeoutMs: number;

  constructor(private readonly options: ClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  get<T>(path: string, options: RequestOptions = {}): Promise<T> {
    return this.request<T>('GET', path, options);
  }

  post<T>(path: string, body: unknown, options: RequestOptions = {}): Promise<T> {
    return this.request<T>('POST', path, { ...options, body });
  }

  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    const response = await this.send(method, path, options, signal);
    const text = await response.text().catch((error: unknown) => {
      options.signal?.throwIfAborted();
      throw new ConnectionError(this.baseUrl, networkReason(error, this.timeoutMs));
    });
    if (!response.ok) throw apiError(response, text, `${method} ${path}`);
    if (text === '') return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new Error(`${method} ${path} answered ${response.status} with a body that is not JSON`);
    }
  }

  /** Server-Sent Events from `path`; leaving the loop closes the connection. */
  async *events(path: string, cancel?: AbortSignal): AsyncGenerator<SseEvent> {
    const abort = new AbortController();
    const signal = cancel ? AbortSignal.any([cancel, abort.signal]) : abort.signal;
    try {
      const response = await this.send('GET', path, { headers: { accept: 'text/event-stream' } }, signal);
      if (!response.ok) throw apiError(response, await response.text(), `GET ${path}`);
      const type = response.headers.get('content-type') ?? '';
      if (!type.startsWith('text/event-stream') || !response.body) {
        throw new Error(`GET ${path} answered ${type || 'no content type'}, not an event stream`);
      }
      yield* readSse(response.body);
    } catch (error) {
      cancel?.throwIfAborted();
      throw error;
    } finally {
      abort.abort();
    }
  }

  private async send(method: string, path: string, options: RequestOptions, signal: AbortSignal): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
    // Operations other than a provisioning are shown to operators only: send the key when we have it.
    if (!options.admin && this.options.adminKey && path.startsWith('/api/operations/')) {
      headers['x-admin-key'] = this.options.adminKey;
    }
    if (options.admin) {
      if (!this.options.adminKey) {
        throw new UsageError('this command needs the admin key: set TTM_ADMIN_KEY or pass --admin-key');
      }
      headers['x-admin-key'] = this.options.adminKey;
    }
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    const url = `${this.baseUrl}${path}${queryString(options.query)}`;
    try {
      return await fetch(url, {
        method,
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        signal,
      });
    } catch (error) {
      options.signal?.throwIfAborted();
      throw new ConnectionError(this.baseUrl, networkReason(error, this.timeoutMs));
    }
  }
}

function queryString(query: Query | undefined): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value !== undefined && value !== '') params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}

function apiError(response: Response, text: string, request: string): ApiError {
  return new ApiError(response.status, parseProblem(text), request);
}

function parseProblem(text: string): Problem | undefined {
  try {
    const body: unknown = JSON.parse(text);
    if (typeof body === 'object' && body !== null && 'title' in body && typeof body.title === 'string') {
      return body as Problem;
    }
  } catch {
    // Not JSON (a proxy's HTML page, say): the status alone has to do.
  }
  return undefined;
}

/** `ECONNREFUSED`, `ENOTFOUND`, `timed out after 30 s`: what a person needs to see. */
export function networkReason(error: unknown, timeoutMs: number): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) {
    return `timed out after ${Math.round(timeoutMs / 1000)} s`;
  }
  const cause = error instanceof Error ? (error.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  if (cause && typeof cause.code === 'string') return cause.code;
  if (cause && typeof cause.message === 'string') return cause.message;
  return error instanceof Error ? error.message : String(error);
}
