import { commonEnv, keyEncryptionEnv, parseDuration, portEnv, servicePorts } from '@ttm/service-kit';
import { z } from 'zod';

const { duration, flag } = portEnv;

const schedule = z
  .string()
  .default('5s,5m,30m,2h,5h,10h,10h')
  .transform((value, ctx) => {
    const delays = value.split(',').map((part) => parseDuration(part));
    if (delays.length === 0 || delays.some((d) => d === undefined)) {
      ctx.addIssue({ code: 'custom', message: `"${value}" is not a comma-separated list of durations (5s,5m,2h)` });
      return z.NEVER;
    }
    return delays.filter((d): d is number => d !== undefined);
  });

export const webhooksEnv = commonEnv
  .extend({
    // TTM_KEK seals the endpoints' signing secrets in the database.
    ...keyEncryptionEnv,
    WEBHOOKS_PORT: portEnv.port(servicePorts.webhooks).describe('HTTP port of the webhooks health and metrics'),
    NODE_ENV: z.string().default('development').describe('production: receiver URLs must be https'),
    WEBHOOK_ALLOW_PRIVATE: flag(false).describe(
      'Development and tests only: accept receivers on loopback and private addresses (refused in production)',
    ),
    WEBHOOK_RETRY_SCHEDULE: schedule.describe(
      'Delays between delivery attempts after the first, comma separated; one attempt more than delays',
    ),
    WEBHOOK_TIMEOUT: duration('15s').describe('How long one delivery attempt may take before it counts as failed'),
    WEBHOOK_CONCURRENCY: z.coerce
      .number()
      .int()
      .min(1)
      .max(1000)
      .default(32)
      .describe('Deliveries in flight at once (at most one per endpoint)'),
    WEBHOOK_POLL_INTERVAL: duration('1s').describe('How often due retries are looked for'),
    WEBHOOK_DISABLE_AFTER: duration('3d').describe('An endpoint failing without a success for this long is disabled'),
    WEBHOOK_DISABLE_MIN_FAILURES: z.coerce
      .number()
      .int()
      .min(1)
      .default(8)
      .describe('...and only after at least this many failed attempts in a row'),
    WEBHOOK_SECRET_OVERLAP: duration('24h').describe(
      'After a secret rotation, how long deliveries are also signed with the previous secret',
    ),
  })
  .superRefine((config, ctx) => {
    if (config.NODE_ENV === 'production' && config.WEBHOOK_ALLOW_PRIVATE) {
      ctx.addIssue({
        code: 'custom',
        path: ['WEBHOOK_ALLOW_PRIVATE'],
        message: 'must not be true when NODE_ENV=production (it would open the door to SSRF)',
      });
    }
  });
export type WebhooksConfig = z.output<typeof webhooksEnv>;
