import { networkReason } from './client.js';
import { UsageError } from './errors.js';

/** What a service's `/health/ready` said: its HTTP status and its named checks. */
export interface Readiness {
  url: string;
  status: number | 'unreachable';
  checks: Record<string, string>;
  error?: string;
}

/** The services `health` looks at, by name, with the base URL of their HTTP server. */
export function serviceUrls(gatewayUrl: string, overrides: string | undefined): Map<string, string> {
  const urls = new Map([
    ['gateway', gatewayUrl],
    ['provisioner', 'http://127.0.0.1:3001'],
    ['metering', 'http://127.0.0.1:3002'],
    ['quota', 'http://127.0.0.1:3003'],
    ['backup', 'http://127.0.0.1:3004'],
    ['webhooks', 'http://127.0.0.1:3005'],
  ]);
  for (const entry of (overrides ?? '').split(',')) {
    if (entry.trim() === '') continue;
    const match = /^\s*([\w-]+)\s*=\s*(https?:\/\/\S+?)\s*$/.exec(entry);
    if (!match) throw new UsageError(`TTM_HEALTH_URLS entry "${entry}" is not name=http://host:port`);
    urls.set(match[1]!, match[2]!);
  }
  return urls;
}

export async function probeReadiness(baseUrl: string, timeoutMs = 2_000): Promise<Readiness> {
  const url = baseUrl.endsWith('/health/ready') ? baseUrl : `${baseUrl.replace(/\/+$/, '')}/health/ready`;
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    const body = (await response.json().catch(() => ({}))) as { checks?: Record<string, string> };
    return { url, status: response.status, checks: body.checks ?? {} };
  } catch (error) {
    return { url, status: 'unreachable', checks: {}, error: networkReason(error, timeoutMs) };
  }
}
