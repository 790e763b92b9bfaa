-- Up Migration

-- What an API key may do. Keys made before scopes existed keep reading and writing records;
-- managing users, keys and webhooks needs a scope given when the key is created.
ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS scopes text[] NOT NULL DEFAULT '{records:read,records:write}';

-- Invitations: an Admin invites a user (created in the workspace without a password); the
-- invitation token (256 random bits, stored as its sha256) lets that user set a password once,
-- before it expires. An accepted invitation also names the organization to the login, which
-- otherwise knows only each organization's admin email.
CREATE TABLE IF NOT EXISTS invitations (
  id uuid PRIMARY KEY,
  tenant_id uuid NOT NULL,
  -- core."user".id of the invited user in the tenant's workspace.
  user_id uuid NOT NULL,
  email text NOT NULL,
  token_hash bytea NOT NULL UNIQUE,
  created_by uuid NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  accepted_at timestamptz,
  revoked_at timestamptz
);
CREATE INDEX IF NOT EXISTS invitations_user_idx ON invitations (tenant_id, user_id);
CREATE INDEX IF NOT EXISTS invitations_accepted_email_idx ON invitations (lower(email))
  WHERE accepted_at IS NOT NULL AND revoked_at IS NULL;

-- Removing a user ends its sessions: its refresh tokens are found by user.
CREATE INDEX IF NOT EXISTS refresh_tokens_user_idx ON refresh_tokens (tenant_id, user_id) WHERE revoked_at IS NULL;
