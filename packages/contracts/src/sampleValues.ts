/**
 * Values the sample payloads of every message family share (`samples.ts`, `backup/samples.ts`,
 * `migration/samples.ts`), so the examples speak of one tenant, one operator and one placement.
 */

export const sampleTenantId = '0b7c4a52-6f1e-4c1a-9d3e-2f5a8b9c0d1e';

export const sampleOperator = { kind: 'admin', id: 'ops@operator.example' } as const;

/** Where the sample tenant lives. */
export const samplePlacement = {
  region: 'eu-west',
  cluster: 'eu-west-1',
  kind: 'schema',
  database: 'twenty_eu_west_1_a',
  schema: 'workspace_1a2b3c4d5e6f7g8h9i0j',
} as const;
