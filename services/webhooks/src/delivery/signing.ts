import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

/** A fresh signing secret as the Standard Webhooks spec spells it: `whsec_` + base64 of 32 random bytes. */
export function newSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/** The secrets a delivery is signed with: the current one, and the previous one during a rotation's overlap. */
export interface SigningKeys {
  current: string;
  previous?: string | undefined;
}

/**
 * The Standard Webhooks headers of one attempt. The timestamp is the attempt's; the id is the
 * delivery's, the same on every attempt. During an overlap both signatures are sent,
 * space-separated, so receivers holding either secret verify.
 */
export function signedHeaders(
  keys: SigningKeys,
  webhookId: string,
  at: Date,
  body: string,
): Record<'webhook-id' | 'webhook-timestamp' | 'webhook-signature', string> {
  const signatures = [keys.current, ...(keys.previous ? [keys.previous] : [])].map((secret) =>
    new Webhook(secret).sign(webhookId, at, body),
  );
  return {
    'webhook-id': webhookId,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': signatures.join(' '),
  };
}
