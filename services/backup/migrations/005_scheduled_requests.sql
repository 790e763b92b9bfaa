-- Up Migration
-- Scheduled backups the scheduler has asked for: a restarted scheduler does not ask again for
-- one whose command still waits in the queue (the backup id alone already keeps it to one backup).
CREATE TABLE IF NOT EXISTS scheduled_requests (
  backup_id uuid PRIMARY KEY,
  tenant_id uuid NOT NULL,
  asked_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS scheduled_requests_asked_idx ON scheduled_requests (asked_at);
