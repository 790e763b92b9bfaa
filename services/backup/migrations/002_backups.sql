-- Up Migration
-- Every backup, rebuilt from the evt.backup.> events by replay. Listed as good only once completed.
CREATE TABLE IF NOT EXISTS backups (
  id uuid PRIMARY KEY,
  tenant_id uuid NOT NULL,
  status text NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'deleted')),
  trigger text,
  plan text,
  created_at timestamptz NOT NULL,
  completed_at timestamptz,
  size_bytes bigint,
  manifest jsonb,
  verified_at timestamptz,
  verification text CHECK (verification IN ('ok', 'mismatch')),
  object_name text,
  deleted_at timestamptz,
  error text,
  last_seq bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS backups_tenant_created_idx ON backups (tenant_id, created_at DESC);
CREATE INDEX IF NOT EXISTS backups_running_idx ON backups (created_at) WHERE status = 'running';

-- Restores of those backups (clones and in place), for operators and the scheduler's view.
CREATE TABLE IF NOT EXISTS restores (
  id uuid PRIMARY KEY,
  backup_id uuid NOT NULL,
  tenant_id uuid NOT NULL,
  mode text NOT NULL CHECK (mode IN ('clone', 'in-place')),
  target_tenant_id uuid NOT NULL,
  status text NOT NULL CHECK (status IN ('running', 'completed', 'failed')),
  progress smallint NOT NULL DEFAULT 0,
  started_at timestamptz NOT NULL,
  finished_at timestamptz,
  error text
);
CREATE INDEX IF NOT EXISTS restores_backup_idx ON restores (backup_id);
