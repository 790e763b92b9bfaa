import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { newSecret, signedHeaders } from './signing.js';

describe('Standard Webhooks signing', () => {
  it('verifies with the reference implementation', () => {
    const secret = newSecret();
    const body = JSON.stringify({ type: 'tenant.suspended', timestamp: new Date().toISOString(), data: {} });
    const headers = signedHeaders({ current: secret }, 'msg_0123456789abcdef', new Date(), body);
    expect(headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/=]+$/);
    expect(new Webhook(secret).verify(body, headers)).toEqual(JSON.parse(body));
    expect(() => new Webhook(newSecret()).verify(body, headers)).toThrow();
  });

  it('signs with both secrets during an overlap', () => {
    const [current, previous] = [newSecret(), newSecret()];
    const body = '{"type":"quota.warning"}';
    const headers = signedHeaders({ current, previous }, 'msg_0123456789abcdef', new Date(), body);
    expect(headers['webhook-signature'].split(' ')).toHaveLength(2);
    expect(new Webhook(current).verify(body, headers)).toBeTruthy();
    expect(new Webhook(previous).verify(body, headers)).toBeTruthy();
  });
});
