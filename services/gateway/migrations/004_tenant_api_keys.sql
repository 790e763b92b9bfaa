-- Up Migration

-- Tenant API keys. A key reads `ttm_<id as 32 hex>_<secret>`: the id finds the row, the secret
-- (256 random bits, base64url) is stored only as its sha256 and compared in constant time. A
-- revoked or expired key stays listed (with revoked_at) and is refused.
CREATE TABLE IF NOT EXISTS api_keys (
  id uuid PRIMARY KEY,
  tenant_id uuid NOT NULL,
  name text NOT NULL,
  secret_hash bytea NOT NULL,
  -- The user (core."user".id) whose access token created the key; requests with the key act as them.
  created_by uuid NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz,
  revoked_at timestamptz
);
CREATE INDEX IF NOT EXISTS api_keys_tenant_idx ON api_keys (tenant_id, created_at, id);
