-- Up Migration
-- Position of each projection this service keeps, committed with the projection's rows.
CREATE TABLE IF NOT EXISTS projection_checkpoints (
  projection text PRIMARY KEY,
  last_seq bigint NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Receivers registered by operators (any tenant, or the fleet) and by tenants (their own events).
-- The state of record of an endpoint lives here, not in EVENTS: it holds signing secrets, which must
-- never reach a stream that every subscriber reads and nobody can purge.
CREATE TABLE endpoints (
  id uuid PRIMARY KEY,
  url text NOT NULL,
  description text,
  event_types text[] NOT NULL,
  tenant_id uuid,
  owner text NOT NULL CHECK (owner IN ('operator', 'tenant')),
  secret text NOT NULL,
  previous_secret text,
  previous_secret_expires_at timestamptz,
  secret_rotated_at timestamptz,
  status text NOT NULL DEFAULT 'enabled' CHECK (status IN ('enabled', 'disabled')),
  disabled_reason text,
  disabled_at timestamptz,
  -- Set with the disabling, cleared once ttm.webhook.endpoint-disabled.v1 is in EVENTS (outbox).
  disabled_notice_pending boolean NOT NULL DEFAULT false,
  consecutive_failures integer NOT NULL DEFAULT 0,
  failing_since timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  removed_at timestamptz
);
CREATE INDEX endpoints_tenant ON endpoints (tenant_id) WHERE removed_at IS NULL;

-- One row per (endpoint, event): the delivery log and the queue. The id is the webhook-id, derived
-- from both, so a replayed event or a crash never makes a second logical delivery.
CREATE TABLE deliveries (
  id text PRIMARY KEY,
  endpoint_id uuid NOT NULL REFERENCES endpoints (id),
  event_id text NOT NULL,
  event_type text NOT NULL,
  tenant_id uuid,
  payload text NOT NULL,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz,
  -- An attempt in progress holds the row until then; a crashed sender's lease simply runs out.
  lease_until timestamptz,
  last_attempt_at timestamptz,
  last_status_code integer,
  last_error text,
  created_at timestamptz NOT NULL DEFAULT now(),
  delivered_at timestamptz,
  UNIQUE (endpoint_id, event_id)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_log ON deliveries (endpoint_id, created_at DESC);
