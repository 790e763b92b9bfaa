-- Up Migration
-- Archived tenants (issue 10): the scheduler skips them; nothing to back up until they are back.
ALTER TABLE tenants DROP CONSTRAINT IF EXISTS tenants_status_check;
ALTER TABLE tenants ADD CONSTRAINT tenants_status_check
  CHECK (status IN ('provisioning', 'active', 'failed', 'suspended', 'archived'));
