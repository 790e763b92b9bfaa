-- Up Migration
-- An archived tenant has no workspace to sample (its data is in its verified backup) until it is
-- unarchived. Tenants archived before this migration keep the status they had here until their
-- next tenant event: sampling them reads an empty schema, as it did before.
ALTER TABLE tenants DROP CONSTRAINT tenants_status_check;
ALTER TABLE tenants ADD CONSTRAINT tenants_status_check
  CHECK (status IN ('registered', 'active', 'suspended', 'failed', 'archived'));
