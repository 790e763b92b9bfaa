-- Up Migration
-- Archiving idle tenants (issue 10). A tenant's idle clock starts when it became active (provisioned,
-- reactivated or brought back from an archive); tenants already active when this runs start it now,
-- so an upgrade archives nobody at once.
ALTER TABLE tenants ADD COLUMN IF NOT EXISTS active_since timestamptz;
UPDATE tenants SET active_since = now() WHERE active_since IS NULL;

-- The latest API call (end of the last closed hourly api_calls window with calls) and the latest
-- sign-in of each tenant, from BILLING and AUDIT: nothing is written per request.
CREATE TABLE IF NOT EXISTS tenant_activity (
  tenant_id uuid PRIMARY KEY,
  last_api_call_at timestamptz,
  last_sign_in_at timestamptz
);

-- Archives the idle sweep asked for. The id is derived from the tenant, its last activity and the
-- retry slot, and the row is inserted before the command is sent: two sweepers (or one restarted)
-- never ask twice for one tenant in a slot.
CREATE TABLE IF NOT EXISTS idle_archives (
  archive_id uuid PRIMARY KEY,
  tenant_id uuid NOT NULL,
  last_activity_at timestamptz NOT NULL,
  requested_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS idle_archives_tenant_idx ON idle_archives (tenant_id, requested_at);
