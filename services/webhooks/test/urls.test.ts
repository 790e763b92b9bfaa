import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminFetch, problem } from '../../../test/support/http.js';
import { startStack, type TestStack } from '../../../test/support/stack.js';
import { startWebhooks, type Webhooks } from '../src/webhooks.js';

let stack: TestStack;
let webhooks: Webhooks;

// The webhooks service as in production: https only, no private receivers, a real KEK (production
// refuses the development one).
beforeAll(async () => {
  stack = await startStack({ provisioner: false });
  webhooks = await startWebhooks(
    {
      ...stack.env,
      WEBHOOKS_PORT: '0',
      NODE_ENV: 'production',
      WEBHOOK_ALLOW_PRIVATE: 'false',
      TTM_KEK: randomBytes(32).toString('base64'),
    },
    { handleSignals: false },
  );
}, 60_000);

afterAll(async () => {
  await webhooks?.stop();
  await stack?.stop();
});

const admin = adminFetch(() => stack.url);
const registering = (url: unknown) =>
  admin('/api/admin/webhooks', { method: 'POST', body: JSON.stringify({ url, eventTypes: ['quota.warning'] }) });

describe('receiver URLs (no SSRF)', () => {
  it.each([
    ['malformed', 'not a url', /not a valid absolute URL/],
    ['another scheme', 'ftp://hooks.example.com/x', /scheme must be https/],
    ['http in production', 'http://hooks.example.com/x', /https in production/],
    ['credentials', 'https://user:secret@hooks.example.com/x', /credentials/],
    ['loopback', 'https://127.0.0.1/hook', /loopback/],
    ['loopback by name', 'https://localhost/hook', /resolves to .*loopback/],
    ['IPv6 loopback', 'https://[::1]/hook', /loopback/],
    ['private', 'https://10.1.2.3/hook', /private/],
    ['link-local (cloud metadata)', 'https://169.254.169.254/latest', /linkLocal/],
    ['IPv4-mapped private', 'https://[::ffff:192.168.0.1]/hook', /private/],
    ['multicast', 'https://224.0.0.1/hook', /multicast/],
  ])('refuses %s with a 400 problem', async (_name, url, reason) => {
    const found = await problem(await registering(url), 400);
    expect(found.type).toBe('https://ttm.dev/problems/webhook-url-rejected');
    expect(found.detail).toMatch(reason);
  });

  it('refuses a body that is not a registration with a validation problem', async () => {
    await problem(await registering(42), 400);
    await problem(
      await admin('/api/admin/webhooks', {
        method: 'POST',
        body: JSON.stringify({ url: 'https://hooks.example.com/', eventTypes: ['no.such-type'] }),
      }),
      400,
    );
  });
});
