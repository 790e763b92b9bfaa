import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { checkUrlShape, hostOf, type UrlPolicy, UrlRejected, vettedAddresses } from '../endpoints/urlPolicy.js';

export interface Attempt {
  url: string;
  body: string;
  headers: Record<string, string>;
  timeoutMs: number;
  policy: UrlPolicy;
}

export type AttemptOutcome = { ok: true; statusCode: number } | { ok: false; statusCode: number | null; error: string };

/** Bytes of a response body read (and thrown away) before the connection is closed. */
const MAX_RESPONSE_BYTES = 64 * 1024;

/**
 * POST one delivery. The host is resolved and every address vetted again here (a name that was
 * public at registration may point inward now), and the connection goes to the vetted address.
 * Redirects are not followed. The whole exchange is bounded by `timeoutMs`; a 2xx is success.
 */
export async function sendAttempt(attempt: Attempt): Promise<AttemptOutcome> {
  let url: URL;
  let addresses: { address: string; family: number }[];
  try {
    url = checkUrlShape(attempt.url, attempt.policy);
    addresses = await vettedAddresses(hostOf(url), attempt.policy);
  } catch (error) {
    if (error instanceof UrlRejected) return { ok: false, statusCode: null, error: `refused: ${error.message}` };
    throw error;
  }
  const vetted = addresses[0]!;
  const lookup: LookupFunction = (_hostname, options, callback) => {
    if (options.all) callback(null, [{ address: vetted.address, family: vetted.family }]);
    else callback(null, vetted.address, vetted.family);
  };
  const transport = url.protocol === 'https:' ? https : http;
  return new Promise<AttemptOutcome>((resolve) => {
    let settled = false;
    const finish = (outcome: AttemptOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(outcome);
    };
    const request = transport.request(
      url,
      {
        method: 'POST',
        lookup,
        headers: {
          ...attempt.headers,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(attempt.body),
          'user-agent': 'ttm-webhooks/0.1',
        },
      },
      (response) => {
        const statusCode = response.statusCode ?? 0;
        let read = 0;
        response.on('data', (chunk: Buffer) => {
          read += chunk.length;
          if (read > MAX_RESPONSE_BYTES) response.destroy();
        });
        const done = () =>
          finish(
            statusCode >= 200 && statusCode < 300
              ? { ok: true, statusCode }
              : { ok: false, statusCode, error: `the receiver answered ${statusCode}` },
          );
        response.on('end', done);
        response.on('close', done);
        response.on('error', done);
      },
    );
    const timer = setTimeout(() => {
      finish({ ok: false, statusCode: null, error: `no answer within ${attempt.timeoutMs} ms` });
      request.destroy();
    }, attempt.timeoutMs);
    request.on('error', (error: NodeJS.ErrnoException) =>
      finish({ ok: false, statusCode: null, error: `${error.code ?? 'error'}: ${error.message}`.slice(0, 500) }),
    );
    request.end(attempt.body);
  });
}
