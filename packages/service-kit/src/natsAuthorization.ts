import { Buckets, Streams } from '@ttm/contracts';

/**
 * NATS users of a locked-down deployment: one per service, and `admin` for bootstrap and
 * operators (the NATS CLI). `natsAuthorizationConfig` writes the nats-server (2.9) `authorization`
 * block; with it, a connection without a known user is refused.
 *
 * Each service is denied what it never does and what would let it act as another one: writing
 * another service's KV state (quota enforcement, write freezes, usage totals), changing or
 * deleting streams, deleting or purging messages, and, for the gateway (the only service on the
 * internet's side), reading the COMMANDS stream raw. Everything else stays allowed, so a new
 * subject does not break a deployment; narrowing further is a matter of adding to these lists.
 */
export const NATS_SERVICE_USERS = ['gateway', 'provisioner', 'metering', 'quota', 'backup', 'webhooks'] as const;
export type NatsServiceUser = (typeof NATS_SERVICE_USERS)[number];

interface Permissions {
  publish: { deny: string[] };
  subscribe: { deny: string[] };
}

const kvWrites = (bucket: string) => `$KV.${bucket}.>`;
/** Stream changes only bootstrap (the admin user) makes. */
const STREAM_ADMIN = [
  '$JS.API.STREAM.CREATE.>',
  '$JS.API.STREAM.UPDATE.>',
  '$JS.API.STREAM.DELETE.>',
  '$JS.API.STREAM.PURGE.>',
  '$JS.API.STREAM.MSG.DELETE.>',
];
/** Every way to read the COMMANDS stream's messages other than as its service consumers. */
const COMMANDS_RAW = [
  `$JS.API.CONSUMER.CREATE.${Streams.COMMANDS}`,
  `$JS.API.CONSUMER.CREATE.${Streams.COMMANDS}.>`,
  `$JS.API.CONSUMER.DURABLE.CREATE.${Streams.COMMANDS}.>`,
  `$JS.API.STREAM.MSG.GET.${Streams.COMMANDS}`,
  `$JS.API.DIRECT.GET.${Streams.COMMANDS}`,
  `$JS.API.DIRECT.GET.${Streams.COMMANDS}.>`,
];
/** Who alone writes each KV bucket of service state. */
const KV_WRITERS: Record<string, NatsServiceUser> = {
  [Buckets.quotaState]: 'quota',
  [Buckets.writeFreeze]: 'backup',
  [Buckets.usageTotals]: 'metering',
};

export function servicePermissions(user: NatsServiceUser): Permissions {
  const kv = Object.entries(KV_WRITERS)
    .filter(([, writer]) => writer !== user)
    .map(([bucket]) => kvWrites(bucket));
  const gateway = user === 'gateway';
  return {
    publish: { deny: [...kv, ...STREAM_ADMIN, ...(gateway ? COMMANDS_RAW : [])] },
    subscribe: { deny: gateway ? ['cmd.>'] : [] },
  };
}

const quote = (value: string) => JSON.stringify(value);
const list = (values: readonly string[]) => `[${values.map(quote).join(', ')}]`;

/**
 * The `authorization { users = [...] }` block of nats-server.conf for these passwords (every
 * service and `admin`). Passwords may be bcrypt hashes (`nats server passwd`), which the
 * server accepts in place of the password.
 */
export function natsAuthorizationConfig(passwords: Record<NatsServiceUser | 'admin', string>): string {
  const users = [
    `    { user: "admin", password: ${quote(passwords.admin)} }`,
    ...NATS_SERVICE_USERS.map((user) => {
      const p = servicePermissions(user);
      return [
        `    { user: ${quote(user)}, password: ${quote(passwords[user])}, permissions: {`,
        `        publish: { deny: ${list(p.publish.deny)} }`,
        `        subscribe: { deny: ${list(p.subscribe.deny)} }`,
        '    } }',
      ].join('\n');
    }),
  ];
  return `authorization {\n  users = [\n${users.join('\n')}\n  ]\n}\n`;
}
