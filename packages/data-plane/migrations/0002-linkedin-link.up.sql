-- mode: online
-- Version 1 -> 2: a LinkedIn link on companies and people, as Twenty added it.
-- Metadata only: nullable columns without a default rewrite nothing, and the partial indexes
-- cover no row yet, so each takes its table's lock for milliseconds (under lock_timeout).
-- Runs with search_path set to the workspace schema, inside the tenant's upgrade transaction.
ALTER TABLE company ADD COLUMN "linkedinLinkPrimaryLinkUrl" text;
ALTER TABLE person ADD COLUMN "linkedinLinkPrimaryLinkUrl" text;
CREATE INDEX "company_linkedinLink_idx" ON company ("linkedinLinkPrimaryLinkUrl") WHERE "linkedinLinkPrimaryLinkUrl" IS NOT NULL;
CREATE INDEX "person_linkedinLink_idx" ON person ("linkedinLinkPrimaryLinkUrl") WHERE "linkedinLinkPrimaryLinkUrl" IS NOT NULL;
