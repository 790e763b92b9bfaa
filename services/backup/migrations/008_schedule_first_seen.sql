-- Up Migration
-- When the scheduler first saw each tenant due scheduled backups. A tenant is not due until
-- BACKUP_NEW_TENANT_GRACE after that: a workspace provisioned a moment ago holds only what
-- provisioning wrote, and a burst of registrations would otherwise bring a burst of backups
-- and verifications with it. Tenants known before this migration count as seen long ago.
CREATE TABLE IF NOT EXISTS schedule_first_seen (
  tenant_id uuid PRIMARY KEY,
  first_seen timestamptz NOT NULL
);
INSERT INTO schedule_first_seen (tenant_id, first_seen)
  SELECT tenant_id, 'epoch' FROM tenants
  ON CONFLICT DO NOTHING;
