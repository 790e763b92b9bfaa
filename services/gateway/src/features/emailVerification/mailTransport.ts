import type { Logger } from '@ttm/service-kit';

/** One e-mail, as a transport sends it. */
export interface OutgoingMail {
  to: string;
  subject: string;
  text: string;
}

/**
 * Where the outbox hands its mail: an SMTP or a mail API client implements this in production.
 * `send` resolves once the transport has accepted the message; a rejection is retried later.
 */
export interface MailTransport {
  readonly name: string;
  send(mail: OutgoingMail): Promise<void>;
}

/** Development and test: the message goes to the log (the verification link can be copied from it). */
export class LogMailTransport implements MailTransport {
  readonly name = 'log';

  constructor(private readonly logger: Logger) {}

  async send(mail: OutgoingMail): Promise<void> {
    this.logger.info({ to: mail.to, subject: mail.subject }, `mail (MAIL_TRANSPORT=log):\n${mail.text}`);
  }
}
