-- Up Migration
-- The tenants the scheduler backs up: plan and status, from the tenant events.
CREATE TABLE IF NOT EXISTS tenants (
  tenant_id uuid PRIMARY KEY,
  plan text NOT NULL,
  status text NOT NULL CHECK (status IN ('provisioning', 'active', 'failed', 'suspended')),
  last_seq bigint NOT NULL
);
