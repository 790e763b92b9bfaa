-- Up Migration
-- Signing secrets sealed under the KEK (issue 12 item 8): an envelope per secret (a data key wrapped
-- by TTM_KEK, the secret under it, bound to the endpoint's row). The plain columns empty as the
-- service seals what they hold at start (EndpointStore.sealPlainSecrets), then stay NULL.
ALTER TABLE endpoints ADD COLUMN secret_sealed jsonb;
ALTER TABLE endpoints ADD COLUMN previous_secret_sealed jsonb;
ALTER TABLE endpoints ALTER COLUMN secret DROP NOT NULL;
ALTER TABLE endpoints ADD CONSTRAINT endpoints_secret_present CHECK (secret IS NOT NULL OR secret_sealed IS NOT NULL);
