-- Up Migration
-- Archived tenants (issue 10): the status, and the verified backup a sign-in restores them from.
ALTER TABLE tenants DROP CONSTRAINT IF EXISTS tenants_status_check;
ALTER TABLE tenants ADD CONSTRAINT tenants_status_check
  CHECK (status IN ('pending', 'provisioning', 'active', 'failed', 'suspended', 'archived'));
ALTER TABLE tenants ADD COLUMN IF NOT EXISTS archive_backup_id uuid;
