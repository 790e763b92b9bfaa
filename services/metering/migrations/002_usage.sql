-- Up Migration
-- Every usage message ever applied, by its key: a redelivered or republished message finds its
-- key here and is not counted again. Keys are deleted METERING_DEDUP_RETENTION after they were
-- recorded (default 35 days, the USAGE stream's max age, so even a replay of the whole stream
-- counts nothing twice).
CREATE TABLE usage_dedup (
  tenant_id uuid NOT NULL,
  meter text NOT NULL,
  dedup_key text NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, meter, dedup_key)
);
-- Rows arrive in time order: a BRIN index finds the expired ones for next to nothing.
CREATE INDEX usage_dedup_recorded_at_idx ON usage_dedup USING brin (recorded_at);

-- Hourly, daily and monthly totals. count meters add up; gauge meters keep the peak (value)
-- and the latest sample (last_value at last_at).
CREATE TABLE usage_windows (
  tenant_id uuid NOT NULL,
  meter text NOT NULL,
  granularity text NOT NULL CHECK (granularity IN ('hour', 'day', 'month')),
  window_start timestamptz NOT NULL,
  window_end timestamptz NOT NULL,
  kind text NOT NULL CHECK (kind IN ('count', 'gauge')),
  value bigint NOT NULL,
  last_value bigint NOT NULL,
  last_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  -- Set once the window-closed event is acknowledged by the BILLING stream.
  published_at timestamptz,
  PRIMARY KEY (tenant_id, meter, granularity, window_start)
) WITH (fillfactor = 50);
-- Every batch rewrites the open windows of its tenants: room on each page lets PostgreSQL update
-- them in place (HOT) instead of adding index entries for each new row version.
CREATE INDEX usage_windows_unpublished_idx ON usage_windows (window_end) WHERE published_at IS NULL;

-- Windows that end at or before closed_before are closed: no batch adds to them any more (late
-- usage counts in the first open hour). One row; batches read it FOR SHARE, the closer updates it.
CREATE TABLE close_watermark (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  closed_before timestamptz
);
INSERT INTO close_watermark (id, closed_before) VALUES (true, NULL);

-- The tenants to sample and where their data lives, from the tenant events.
CREATE TABLE tenants (
  tenant_id uuid PRIMARY KEY,
  status text NOT NULL CHECK (status IN ('registered', 'active', 'suspended', 'failed')),
  region text,
  cluster text,
  placement_kind text CHECK (placement_kind IN ('schema', 'database')),
  database text,
  schema text,
  updated_at timestamptz NOT NULL,
  last_event_seq bigint NOT NULL
);
