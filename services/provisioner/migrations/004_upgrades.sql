-- Up Migration
-- Fleet schema upgrades: one row per upgrade, one per tenant it covers (the durable progress a
-- restarted provisioner resumes from; the tenant's own stream records each completed change).
ALTER TABLE placements ADD COLUMN IF NOT EXISTS plan text;

CREATE TABLE upgrades (
  id uuid PRIMARY KEY,
  target_version integer NOT NULL,
  spec jsonb NOT NULL,
  status text NOT NULL CHECK (status IN ('running', 'paused', 'cancelled', 'completed')),
  status_reason text,
  rollback_of uuid REFERENCES upgrades (id),
  -- Waves finished and accepted (judged by the failure policy, or resumed past by an operator).
  waves_done integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE upgrade_tenants (
  upgrade_id uuid NOT NULL REFERENCES upgrades (id) ON DELETE CASCADE,
  tenant_id uuid NOT NULL,
  wave integer NOT NULL,
  ordinal integer NOT NULL,
  region text NOT NULL,
  cluster text NOT NULL,
  from_version integer,
  status text NOT NULL CHECK (status IN ('pending', 'running', 'ok', 'failed', 'skipped')),
  error text,
  attempts integer NOT NULL DEFAULT 0,
  lock_held_ms real,
  started_at timestamptz,
  finished_at timestamptz,
  PRIMARY KEY (upgrade_id, tenant_id)
);
CREATE INDEX upgrade_tenants_wave_idx ON upgrade_tenants (upgrade_id, wave, status, ordinal);
