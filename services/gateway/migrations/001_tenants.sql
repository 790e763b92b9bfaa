-- Up Migration
CREATE TABLE IF NOT EXISTS projection_checkpoints (
  projection text PRIMARY KEY,
  last_seq bigint NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- The operators' view of every tenant, rebuilt from the EVENTS stream by replay.
CREATE TABLE tenants (
  tenant_id uuid PRIMARY KEY,
  provisioning_id uuid NOT NULL UNIQUE,
  organization_name text NOT NULL,
  admin_email text NOT NULL,
  plan text NOT NULL,
  region text NOT NULL,
  slug text,
  status text NOT NULL CHECK (status IN ('pending', 'provisioning', 'active', 'failed', 'suspended')),
  progress smallint NOT NULL DEFAULT 0,
  step text,
  placement jsonb,
  error text,
  suspended_reason text,
  registered_at timestamptz NOT NULL,
  provisioned_at timestamptz,
  updated_at timestamptz NOT NULL,
  last_event_seq bigint NOT NULL
);
CREATE INDEX tenants_status_idx ON tenants (status, registered_at, tenant_id);
CREATE INDEX tenants_plan_idx ON tenants (plan, registered_at, tenant_id);
CREATE INDEX tenants_region_idx ON tenants (region, registered_at, tenant_id);
CREATE INDEX tenants_admin_email_idx ON tenants (lower(admin_email));
