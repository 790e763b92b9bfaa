import type { OutgoingMail } from './mailTransport.js';

/** The verification mail: a link to EMAIL_VERIFICATION_URL with the token. */
export function verificationMail(
  pageUrl: string,
  email: string,
  token: string,
  organization: string | undefined,
): OutgoingMail {
  const link = new URL(pageUrl);
  link.searchParams.set('token', token);
  const what = organization ? `the organization "${organization}"` : 'your organization';
  return {
    to: email,
    subject: 'Confirm your e-mail address',
    text:
      `You registered ${what}. Confirm this address to sign in:\n${link.toString()}\n` +
      `(or POST {"token":"${token}"} to /api/auth/verify-email). The link works once.`,
  };
}
