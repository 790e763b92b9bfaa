-- Up Migration

-- Keys that sign access tokens (ES256, JWK). Exactly one key signs: activated and not retired.
-- Rotation retires it (retired_at) and activates a new one; a retired key stays published at
-- /.well-known/jwks.json and accepted until every token it signed has expired, so nobody is
-- logged out. Every gateway reloads this table periodically.
CREATE TABLE signing_keys (
  kid text PRIMARY KEY,
  alg text NOT NULL DEFAULT 'ES256',
  private_jwk jsonb NOT NULL,
  public_jwk jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  activated_at timestamptz,
  retired_at timestamptz
);
-- Two gateways starting on an empty table both try to create the first key: one insert wins.
CREATE UNIQUE INDEX signing_keys_single_active ON signing_keys ((true))
  WHERE activated_at IS NOT NULL AND retired_at IS NULL;

-- Refresh tokens, stored as sha256 of the opaque token. A login starts a family; each refresh
-- marks its token used and issues the next one in the family; a used token presented again
-- revokes the whole family (someone else holds a copy).
CREATE TABLE refresh_tokens (
  id uuid PRIMARY KEY,
  token_hash bytea NOT NULL UNIQUE,
  family_id uuid NOT NULL,
  user_id uuid NOT NULL,
  tenant_id uuid NOT NULL,
  email text NOT NULL,
  expires_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  used_at timestamptz,
  revoked_at timestamptz
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_expires_idx ON refresh_tokens (expires_at);
