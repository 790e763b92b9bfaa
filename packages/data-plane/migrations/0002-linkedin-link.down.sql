-- mode: online
-- Version 2 -> 1: drops the columns (and with them their indexes). Values written into the
-- new columns while at version 2 are lost; everything version 1 has is untouched.
DROP INDEX IF EXISTS "company_linkedinLink_idx";
DROP INDEX IF EXISTS "person_linkedinLink_idx";
ALTER TABLE company DROP COLUMN IF EXISTS "linkedinLinkPrimaryLinkUrl";
ALTER TABLE person DROP COLUMN IF EXISTS "linkedinLinkPrimaryLinkUrl";
