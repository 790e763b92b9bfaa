/**
 * E-mail verification of registrations' admins (EMAIL_VERIFICATION): tokens, the mail outbox and
 * its dispatcher, the mail transport interface and its log transport, the verify and resend routes.
 */
import type { Outbox, OutboxDispatcher } from './outbox.js';
import type { EmailVerifications } from './verifications.js';

export { verificationMail } from './mail.js';
export { LogMailTransport, type MailTransport, type OutgoingMail } from './mailTransport.js';
export { Outbox, OutboxDispatcher } from './outbox.js';
export { emailVerificationRoutes, resendVerificationPath, verifyEmailPath } from './routes.js';
export { EmailVerifications, type PendingVerification } from './verifications.js';

/** What the registration, login and verification routes share. */
export interface EmailVerificationParts {
  /** EMAIL_VERIFICATION resolved: true when a new admin must verify before signing in. */
  required: boolean;
  verifications: EmailVerifications;
  outbox: Outbox;
  dispatcher: OutboxDispatcher;
}
