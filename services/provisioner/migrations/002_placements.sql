-- Up Migration
-- Which cluster holds each tenant; placement counts these rows to find free capacity.
CREATE TABLE placements (
  tenant_id uuid PRIMARY KEY,
  region text NOT NULL,
  cluster text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('schema', 'database')),
  database text NOT NULL,
  schema text NOT NULL,
  placed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX placements_cluster_idx ON placements (region, cluster);
