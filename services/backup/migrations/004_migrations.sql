-- Up Migration
-- Tenant migrations, from the migration events: the sweeper finds the sources whose grace period is over here.
CREATE TABLE IF NOT EXISTS migrations (
  migration_id uuid PRIMARY KEY,
  tenant_id uuid NOT NULL,
  status text NOT NULL CHECK (status IN ('running', 'completed', 'failed')),
  source_removal_due_at timestamptz,
  source_removed boolean NOT NULL DEFAULT false,
  last_seq bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS migrations_due_idx ON migrations (source_removal_due_at)
  WHERE status = 'completed' AND NOT source_removed;
