-- Up Migration
-- The admin password hash of a registration whose provisioning stopped before its workspace
-- existed: the RegisterOrganization command has left the work queue by then, and a retried
-- provisioning creates the admin from this row. Deleted once the workspace exists.
CREATE TABLE pending_credentials (
  tenant_id uuid PRIMARY KEY,
  admin_password_hash text NOT NULL,
  stored_at timestamptz NOT NULL DEFAULT now()
);
