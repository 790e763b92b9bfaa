import pg from 'pg';

/** Where a tenant lives, as the gateway's admin API shows it. */
export interface Placement {
  region: string;
  cluster: string;
  database: string;
  schema: string;
}

/** The URL of a placement's database, on the clusters named in REGIONS of a stack's environment. */
export function placementUrl(env: Record<string, string | undefined>, placement: Placement): string {
  const regions = JSON.parse(env.REGIONS!) as { name: string; clusters: { name: string; url: string }[] }[];
  const region = regions.find((r) => r.name === placement.region)!;
  const url = new URL(region.clusters.find((c) => c.name === placement.cluster)!.url);
  url.pathname = `/${placement.database}`;
  return url.toString();
}

/**
 * `companies` companies, each with a person working there, and `extraCompanies` more companies
 * alone, inserted in bulk into a workspace schema; then its statistics are brought up to date.
 */
export async function seedCompaniesAndPeople(
  client: pg.Client,
  schema: string,
  companies: number,
  extraCompanies = 0,
): Promise<void> {
  const s = pg.escapeIdentifier(schema);
  await client.query(
    `WITH c AS (
       INSERT INTO ${s}.company (name, employees, "addressAddressCity", position)
       SELECT 'Company ' || n, n % 5000, 'City ' || (n % 97), n FROM generate_series(1, $1) n RETURNING id, name
     )
     INSERT INTO ${s}.person ("nameFirstName", "nameLastName", "emailsPrimaryEmail", "companyId")
     SELECT 'First', c.name, 'p' || c.id || '@example.test', c.id FROM c`,
    [companies],
  );
  if (extraCompanies > 0) {
    await client.query(
      `INSERT INTO ${s}.company (name, position) SELECT 'Extra ' || n, n FROM generate_series(1, $1) n`,
      [extraCompanies],
    );
  }
  await client.query(`ANALYZE ${s}.company; ANALYZE ${s}.person`);
}
