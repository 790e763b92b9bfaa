import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startStack, type TestStack } from '../../../test/support/stack.js';
import type { MailTransport, OutgoingMail } from '../src/features/emailVerification/index.js';
import { authProblemTypes, type Problem } from '../src/problems.js';

/** Issue 12 item 9: the admin of a registration signs in only once its e-mail address is verified. */
class MailBox implements MailTransport {
  readonly name = 'test-mailbox';
  readonly mails: OutgoingMail[] = [];
  async send(mail: OutgoingMail): Promise<void> {
    this.mails.push(mail);
  }
  to(email: string): OutgoingMail[] {
    return this.mails.filter((m) => m.to === email);
  }
}

const mailbox = new MailBox();
let stack: TestStack;
const PASSWORD = 'correct-Horse-battery-9';

beforeAll(async () => {
  stack = await startStack({ env: { EMAIL_VERIFICATION: 'required' }, gatewayOptions: { mailTransport: mailbox } });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

const post = (url: string, payload: unknown): Promise<LightMyRequestResponse> =>
  stack.gateway!.app.inject({
    method: 'POST',
    url,
    headers: { 'content-type': 'application/json' },
    payload: JSON.stringify(payload),
  });

function problemOf(response: LightMyRequestResponse): Problem {
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  return response.json<Problem>();
}

function tokenOf(mail: OutgoingMail): string {
  const link = /https?:\/\/\S+/.exec(mail.text)?.[0];
  expect(link).toBeDefined();
  const token = new URL(link!).searchParams.get('token');
  expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
  return token!;
}

async function registerAndWait(email: string, name: string): Promise<string> {
  const response = await post('/api/auth/register-organization', {
    organization_name: name,
    admin_email: email,
    admin_password: PASSWORD,
    plan: 'pro',
  });
  expect(response.statusCode).toBe(202);
  const { provisioning_id: provisioningId, tenant_id: tenantId } = response.json<{
    provisioning_id: string;
    tenant_id: string;
  }>();
  // Provisioning does not wait for the verification.
  await eventually(
    () => stack.gateway!.deps.directory.byProvisioningId(provisioningId)?.status === 'active' || undefined,
    60_000,
  );
  return tenantId;
}

describe('e-mail verification (EMAIL_VERIFICATION=required)', () => {
  it('holds the admin back with 403 email-not-verified until the mailed link is used, once', async () => {
    const email = 'verify-me@verify.test';
    const tenantId = await registerAndWait(email, 'Verify Co');

    const refused = await post('/api/auth/login', { email, password: PASSWORD });
    expect(refused.statusCode).toBe(403);
    expect(problemOf(refused).type).toBe(authProblemTypes.emailNotVerified);
    // Without the password nothing about the verification is told.
    const wrong = await post('/api/auth/login', { email, password: 'Wrong-password-123' });
    expect(wrong.statusCode).toBe(401);

    const [mail] = await eventually(() => (mailbox.to(email).length > 0 ? mailbox.to(email) : undefined), 30_000);
    expect(mail!.subject).toMatch(/confirm/i);
    const token = tokenOf(mail!);

    const verified = await post('/api/auth/verify-email', { token });
    expect(verified.statusCode).toBe(200);
    expect(verified.json()).toEqual({ tenant_id: tenantId, email, verified: true });
    // Single use.
    const again = await post('/api/auth/verify-email', { token });
    expect(again.statusCode).toBe(400);
    expect(problemOf(again).type).toBe(authProblemTypes.invalidVerificationToken);

    const login = await post('/api/auth/login', { email, password: PASSWORD });
    expect(login.statusCode).toBe(200);
    expect(login.json()).toMatchObject({ tenant_id: tenantId });

    // Sent mail leaves the outbox; the token is stored only as a hash, cleared once used.
    const { rows } = await stack.gateway!.deps.pool.query(
      'SELECT (SELECT count(*) FROM gateway.outbox)::int AS queued, token_hash FROM gateway.email_verifications WHERE tenant_id = $1',
      [tenantId],
    );
    expect(rows[0]).toEqual({ queued: 0, token_hash: null });
  });

  it('resends a new link that replaces the old one, and answers the same for an unknown email', async () => {
    const email = 'resend-me@verify.test';
    await registerAndWait(email, 'Resend Co');
    const first = tokenOf((await eventually(() => mailbox.to(email)[0], 30_000))!);

    const resend = await post('/api/auth/resend-verification', { email: 'Resend-Me@verify.test' });
    expect(resend.statusCode).toBe(202);
    const second = tokenOf((await eventually(() => mailbox.to(email)[1], 30_000))!);
    expect(second).not.toBe(first);

    const unknown = await post('/api/auth/resend-verification', { email: 'nobody@verify.test' });
    expect(unknown.statusCode).toBe(202);
    expect(unknown.json()).toEqual(resend.json());

    expect((await post('/api/auth/verify-email', { token: first })).statusCode).toBe(400);
    expect((await post('/api/auth/verify-email', { token: second })).statusCode).toBe(200);
    expect((await post('/api/auth/login', { email, password: PASSWORD })).statusCode).toBe(200);
    // Nothing pending any more: a resend mails nothing.
    await post('/api/auth/resend-verification', { email });
    await stack.gateway!.deps.emailVerification.dispatcher.drain();
    expect(mailbox.to(email)).toHaveLength(2);
    expect(mailbox.to('nobody@verify.test')).toHaveLength(0);
  });

  it('refuses a token that was never issued', async () => {
    const response = await post('/api/auth/verify-email', { token: 'A'.repeat(43) });
    expect(response.statusCode).toBe(400);
    expect(problemOf(response).type).toBe(authProblemTypes.invalidVerificationToken);
  });
});
