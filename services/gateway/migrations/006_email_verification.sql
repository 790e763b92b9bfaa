-- Up Migration

-- E-mail verification of a registration's admin (EMAIL_VERIFICATION=required). A row means the
-- admin's address is unverified until verified_at is set; a tenant without a row (registered
-- with verification off, or before it existed) is not held back. The token (256 random bits) is
-- stored only as its sha256, works once (cleared when used) and expires.
CREATE TABLE IF NOT EXISTS email_verifications (
  tenant_id uuid PRIMARY KEY,
  email text NOT NULL,
  token_hash bytea UNIQUE,
  expires_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  verified_at timestamptz
);
CREATE INDEX IF NOT EXISTS email_verifications_pending_email_idx ON email_verifications (lower(email))
  WHERE verified_at IS NULL;

-- Mail to send, written in the same transaction as what it announces and drained by the
-- outbox dispatcher (any gateway; FOR UPDATE SKIP LOCKED). The message is sealed under the KEK
-- (it carries a verification link), and its row is deleted once the transport took it.
CREATE TABLE IF NOT EXISTS outbox (
  id uuid PRIMARY KEY,
  kind text NOT NULL,
  recipient text NOT NULL,
  message jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  last_error text
);
CREATE INDEX IF NOT EXISTS outbox_due_idx ON outbox (next_attempt_at);
