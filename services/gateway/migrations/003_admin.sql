-- Up Migration

-- Operators' tenant list: newest first, keyset paginated on (registered_at, tenant_id).
-- The status, plan and region indexes of 001 end with the same key, so a filtered page is
-- one index range too; this one serves the unfiltered list.
CREATE INDEX IF NOT EXISTS tenants_registered_idx ON tenants (registered_at, tenant_id);

-- Free text on name, slug and admin e-mail: one lower-cased text with a separator no query
-- may contain (U+001F), so a match never spans two fields. The list query spells the same
-- expression. A trigram index serves substring search when pg_trgm can be installed (it
-- needs CREATE on the database); without it the search still works, by scanning.
DO $$
DECLARE
  trgm_schema text;
BEGIN
  BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;
  EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'pg_trgm is not available (%): tenant search will scan instead of using an index', SQLERRM;
  END;
  SELECT n.nspname INTO trgm_schema
    FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
   WHERE e.extname = 'pg_trgm';
  IF trgm_schema IS NOT NULL THEN
    EXECUTE format(
      'CREATE INDEX IF NOT EXISTS tenants_search_trgm_idx ON tenants USING gin '
      '((lower(organization_name) || chr(31) || coalesce(slug, '''') || chr(31) || lower(admin_email)) %I.gin_trgm_ops)',
      trgm_schema);
  END IF;
END
$$;

-- Long-running operations, one model for every kind (provisioning now; backups, restores and
-- migrations later). Kept by the projection that owns the kind, in the same transaction.
CREATE TABLE operations (
  operation_id uuid PRIMARY KEY,
  kind text NOT NULL,
  tenant_id uuid NOT NULL,
  status text NOT NULL CHECK (status IN ('pending', 'running', 'succeeded', 'failed')),
  progress smallint NOT NULL DEFAULT 0,
  step text,
  result jsonb,
  error text,
  started_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  finished_at timestamptz,
  last_event_seq bigint NOT NULL
);
CREATE INDEX operations_tenant_idx ON operations (tenant_id, started_at);

-- Provisionings the tenants projection applied before this table existed.
INSERT INTO operations
  (operation_id, kind, tenant_id, status, progress, step, result, error, started_at, updated_at, finished_at,
   last_event_seq)
SELECT provisioning_id, 'provisioning', tenant_id,
       CASE status WHEN 'pending' THEN 'pending' WHEN 'provisioning' THEN 'running'
                   WHEN 'failed' THEN 'failed' ELSE 'succeeded' END,
       progress, step,
       CASE WHEN provisioned_at IS NULL THEN NULL ELSE jsonb_build_object('tenant_id', tenant_id, 'slug', slug) END,
       CASE WHEN status = 'failed' THEN error END,
       registered_at, COALESCE(provisioned_at, updated_at),
       CASE WHEN provisioned_at IS NOT NULL THEN provisioned_at WHEN status = 'failed' THEN updated_at END,
       last_event_seq
  FROM tenants
ON CONFLICT (operation_id) DO NOTHING;

-- Who did what (AUDIT stream), newest first by stream sequence.
CREATE TABLE audit_log (
  seq bigint PRIMARY KEY,
  id text NOT NULL UNIQUE,
  recorded_at timestamptz NOT NULL,
  actor_kind text NOT NULL,
  actor_id text NOT NULL,
  action text NOT NULL,
  scope text NOT NULL,
  target_kind text,
  target_id text,
  client_address text,
  request_id text,
  outcome text NOT NULL CHECK (outcome IN ('success', 'failure')),
  detail text
);
CREATE INDEX audit_log_scope_idx ON audit_log (scope, seq);
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, seq);
CREATE INDEX audit_log_action_idx ON audit_log (action, seq);
CREATE INDEX audit_log_recorded_idx ON audit_log (recorded_at);
