/**
 * The three backing services the control plane needs (PostgreSQL, NATS, Redis),
 * read from the same variables and with the same defaults as the services
 * (packages/service-kit/src/config.ts `commonEnv`).
 */

export type BackingServiceKind = 'postgres' | 'nats' | 'redis';

export interface Endpoint {
  /** Host name or address, IPv6 without brackets. */
  host: string;
  port: number;
}

export interface BackingService {
  kind: BackingServiceKind;
  label: 'PostgreSQL' | 'NATS' | 'Redis';
  variable: 'DATABASE_URL' | 'NATS_URL' | 'REDIS_URL';
  /** The configured value (NATS: possibly several servers, comma separated). */
  url: string;
  /** Where it should answer; NATS may list several servers, the others one. */
  endpoints: Endpoint[];
}

export const backingDefaults = {
  DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/ttm',
  NATS_URL: 'nats://127.0.0.1:4222',
  REDIS_URL: 'redis://127.0.0.1:6379',
} as const;

/** A configuration mistake, reported as one line. */
export class StackConfigError extends Error {}

function parse(
  variable: string,
  value: string,
  protocols: string[],
  defaultPort: number,
): URL & { portNumber: number } {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new StackConfigError(`${variable} "${redact(value)}" is not a URL: fix ${variable}`);
  }
  if (!protocols.includes(url.protocol)) {
    throw new StackConfigError(
      `${variable} "${redact(value)}" must start with ${protocols.map((p) => `${p}//`).join(' or ')}: fix ${variable}`,
    );
  }
  return Object.assign(url, { portNumber: url.port ? Number(url.port) : defaultPort });
}

const hostOf = (url: URL) => url.hostname.replace(/^\[(.*)\]$/, '$1');

export function backingServicesFromEnv(env: NodeJS.ProcessEnv = process.env): BackingService[] {
  const value = (name: keyof typeof backingDefaults) => env[name] || backingDefaults[name];

  const databaseUrl = value('DATABASE_URL');
  const pg = parse('DATABASE_URL', databaseUrl, ['postgres:', 'postgresql:'], 5432);

  const natsUrl = value('NATS_URL');
  const natsEndpoints = natsUrl
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((server) => {
      // The NATS clients accept "host:port" without a scheme.
      const withScheme = /^[a-z]+:\/\//i.test(server) ? server : `nats://${server}`;
      const url = parse('NATS_URL', withScheme, ['nats:', 'tls:', 'ws:', 'wss:'], 4222);
      return { host: hostOf(url), port: url.portNumber };
    });
  if (natsEndpoints.length === 0) throw new StackConfigError('NATS_URL is empty: set NATS_URL');

  const redisUrl = value('REDIS_URL');
  const redis = parse('REDIS_URL', redisUrl, ['redis:', 'rediss:'], 6379);

  return [
    {
      kind: 'postgres',
      label: 'PostgreSQL',
      variable: 'DATABASE_URL',
      url: databaseUrl,
      endpoints: [{ host: hostOf(pg), port: pg.portNumber }],
    },
    { kind: 'nats', label: 'NATS', variable: 'NATS_URL', url: natsUrl, endpoints: natsEndpoints },
    {
      kind: 'redis',
      label: 'Redis',
      variable: 'REDIS_URL',
      url: redisUrl,
      endpoints: [{ host: hostOf(redis), port: redis.portNumber }],
    },
  ];
}

/** True for names and addresses of this machine, where a private instance may be started. */
export function isLocalHost(host: string): boolean {
  return (
    host === 'localhost' ||
    host.endsWith('.localhost') ||
    /^127\.\d+\.\d+\.\d+$/.test(host) ||
    host === '::1' ||
    host === '0.0.0.0' ||
    host === '::'
  );
}

export function address({ host, port }: Endpoint): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Hide the password of a URL before printing it. */
export function redact(value: string): string {
  return value.replace(/\/\/([^:@/]*):([^@/]+)@/g, '//$1:***@');
}
