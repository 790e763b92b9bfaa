-- Up Migration
-- Operators' overrides of plan limits (NULL: the plan's limit), projected from the quota events.
CREATE TABLE overrides (
  tenant_id uuid PRIMARY KEY,
  storage_bytes bigint,
  users bigint,
  api_calls_per_month bigint,
  updated_at timestamptz NOT NULL,
  last_event_seq bigint NOT NULL
);

-- Where each tenant's meter stood at its last level change, and which notices its window sent.
CREATE TABLE meter_states (
  tenant_id uuid NOT NULL,
  meter text NOT NULL,
  window_start timestamptz NOT NULL,
  level text NOT NULL CHECK (level IN ('ok', 'warning', 'exceeded')),
  quota_limit bigint NOT NULL,
  used bigint NOT NULL,
  last_notified text CHECK (last_notified IN ('warning', 'exceeded', 'cleared')),
  notified text[] NOT NULL DEFAULT '{}',
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, meter)
);

-- Outbox of quota notices, keyed by their deterministic ce-id: written in the same transaction as
-- the level change, published on evt.quota.<tenantId>, then marked.
CREATE TABLE notifications (
  event_id text PRIMARY KEY,
  tenant_id uuid NOT NULL,
  type text NOT NULL,
  payload jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  published_at timestamptz
);
CREATE INDEX notifications_unpublished_idx ON notifications (created_at) WHERE published_at IS NULL;

-- Each closed month of a count meter against the limit in force when it closed.
CREATE TABLE settled_periods (
  tenant_id uuid NOT NULL,
  meter text NOT NULL,
  period_start timestamptz NOT NULL,
  used bigint NOT NULL,
  quota_limit bigint,
  settled_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, meter, period_start)
);
