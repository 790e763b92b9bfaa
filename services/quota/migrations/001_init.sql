-- Up Migration
-- Position of each projection this service keeps, committed with the projection's rows.
CREATE TABLE IF NOT EXISTS projection_checkpoints (
  projection text PRIMARY KEY,
  last_seq bigint NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
