/**
 * The Twenty data-plane layout (DESIGN.md "what a provisioned tenant is"): rows in the
 * cluster's `core` schema and one `workspace_<base36>` schema with the standard objects.
 * Identifiers are quoted camelCase, as Twenty (TypeORM) names them.
 */

/**
 * The version new workspaces are created at. Bumped together with a forward/down migration in
 * `migrations/` and the `since` marks below; the fleet upgrade walks tenants below it.
 */
export const WORKSPACE_SCHEMA_VERSION = 2;

/** The oldest version this build still creates, reads and upgrades from (N-1 during a rollout). */
export const OLDEST_SUPPORTED_SCHEMA_VERSION = 1;

/** Twenty's schema name: `workspace_` + the uuid read as one base-36 number. */
export function workspaceSchemaName(workspaceId: string): string {
  const hex = workspaceId.replace(/-/g, '');
  if (!/^[0-9a-f]{32}$/i.test(hex)) throw new Error(`"${workspaceId}" is not a uuid`);
  return `workspace_${BigInt(`0x${hex}`).toString(36)}`;
}

/** The cluster-wide `core` tables; idempotent, run when the provisioner opens a cluster. */
export const CORE_SCHEMA_SQL = `
CREATE SCHEMA IF NOT EXISTS core;
CREATE TABLE IF NOT EXISTS core.workspace (
  id uuid PRIMARY KEY,
  "displayName" text NOT NULL,
  subdomain text NOT NULL,
  "activationStatus" text NOT NULL
    CHECK ("activationStatus" IN ('PENDING_CREATION','ONGOING_CREATION','ACTIVE','SUSPENDED','INACTIVE')),
  "databaseSchema" text NOT NULL,
  "createdAt" timestamptz NOT NULL DEFAULT now(),
  "updatedAt" timestamptz NOT NULL DEFAULT now(),
  "deletedAt" timestamptz
);
CREATE UNIQUE INDEX IF NOT EXISTS "workspace_subdomain_key" ON core.workspace (subdomain) WHERE "deletedAt" IS NULL;
CREATE TABLE IF NOT EXISTS core."user" (
  id uuid PRIMARY KEY,
  email text NOT NULL,
  "firstName" text NOT NULL DEFAULT '',
  "lastName" text NOT NULL DEFAULT '',
  "passwordHash" text NOT NULL,
  "defaultWorkspaceId" uuid NOT NULL REFERENCES core.workspace (id) ON DELETE CASCADE,
  "createdAt" timestamptz NOT NULL DEFAULT now(),
  "updatedAt" timestamptz NOT NULL DEFAULT now(),
  "deletedAt" timestamptz
);
CREATE INDEX IF NOT EXISTS "user_email_idx" ON core."user" (lower(email));
CREATE TABLE IF NOT EXISTS core."userWorkspace" (
  id uuid PRIMARY KEY,
  "userId" uuid NOT NULL REFERENCES core."user" (id) ON DELETE CASCADE,
  "workspaceId" uuid NOT NULL REFERENCES core.workspace (id) ON DELETE CASCADE,
  "createdAt" timestamptz NOT NULL DEFAULT now(),
  "updatedAt" timestamptz NOT NULL DEFAULT now(),
  "deletedAt" timestamptz,
  UNIQUE ("userId", "workspaceId")
);
CREATE TABLE IF NOT EXISTS core.role (
  id uuid PRIMARY KEY,
  "workspaceId" uuid NOT NULL REFERENCES core.workspace (id) ON DELETE CASCADE,
  label text NOT NULL,
  "canUpdateAllSettings" boolean NOT NULL DEFAULT false,
  "isEditable" boolean NOT NULL DEFAULT true,
  "createdAt" timestamptz NOT NULL DEFAULT now(),
  "updatedAt" timestamptz NOT NULL DEFAULT now(),
  UNIQUE ("workspaceId", label)
);
CREATE TABLE IF NOT EXISTS core."roleTarget" (
  id uuid PRIMARY KEY,
  "workspaceId" uuid NOT NULL REFERENCES core.workspace (id) ON DELETE CASCADE,
  "roleId" uuid NOT NULL REFERENCES core.role (id) ON DELETE CASCADE,
  "userWorkspaceId" uuid NOT NULL REFERENCES core."userWorkspace" (id) ON DELETE CASCADE,
  "createdAt" timestamptz NOT NULL DEFAULT now(),
  UNIQUE ("userWorkspaceId", "roleId")
);
CREATE TABLE IF NOT EXISTS core."dataSource" (
  id uuid PRIMARY KEY,
  "workspaceId" uuid NOT NULL UNIQUE REFERENCES core.workspace (id) ON DELETE CASCADE,
  schema text NOT NULL,
  type text NOT NULL DEFAULT 'postgres',
  "schemaVersion" integer NOT NULL,
  "createdAt" timestamptz NOT NULL DEFAULT now(),
  "updatedAt" timestamptz NOT NULL DEFAULT now()
);
`;

const base = `id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  "createdAt" timestamptz NOT NULL DEFAULT now(),
  "updatedAt" timestamptz NOT NULL DEFAULT now(),
  "deletedAt" timestamptz,
  position double precision`;

/** A column a later schema version added to a standard object: present from version `since` on. */
export interface AddedColumn {
  since: number;
  name: string;
  definition: string;
}

/** A standard object: its version-1 columns, plus the columns later versions added. */
export interface WorkspaceTable {
  name: string;
  columns: string;
  added?: readonly AddedColumn[];
}

/** The standard objects of a workspace, in dependency order. */
export const WORKSPACE_TABLES: readonly WorkspaceTable[] = [
  {
    name: 'workspaceMember',
    columns: `${base}, "nameFirstName" text NOT NULL DEFAULT '', "nameLastName" text NOT NULL DEFAULT '',
      "userId" uuid NOT NULL UNIQUE, "userEmail" text NOT NULL, locale text NOT NULL DEFAULT 'en',
      "colorScheme" text NOT NULL DEFAULT 'System', "timeZone" text NOT NULL DEFAULT 'system'`,
  },
  {
    name: 'company',
    columns: `${base}, name text NOT NULL DEFAULT '', "domainNamePrimaryLinkUrl" text, employees integer,
      "annualRecurringRevenueAmountMicros" bigint, "annualRecurringRevenueCurrencyCode" text,
      "addressAddressCity" text, "addressAddressCountry" text, "idealCustomerProfile" boolean NOT NULL DEFAULT false,
      "accountOwnerId" uuid REFERENCES "workspaceMember" (id) ON DELETE SET NULL`,
    added: [{ since: 2, name: 'linkedinLinkPrimaryLinkUrl', definition: 'text' }],
  },
  {
    name: 'person',
    columns: `${base}, "nameFirstName" text NOT NULL DEFAULT '', "nameLastName" text NOT NULL DEFAULT '',
      "emailsPrimaryEmail" text, "phonesPrimaryPhoneNumber" text, "jobTitle" text NOT NULL DEFAULT '', city text,
      "companyId" uuid REFERENCES company (id) ON DELETE SET NULL`,
    added: [{ since: 2, name: 'linkedinLinkPrimaryLinkUrl', definition: 'text' }],
  },
  {
    name: 'opportunity',
    columns: `${base}, name text NOT NULL DEFAULT '', "amountAmountMicros" bigint, "amountCurrencyCode" text,
      "closeDate" timestamptz, stage text NOT NULL DEFAULT 'NEW',
      "companyId" uuid REFERENCES company (id) ON DELETE SET NULL,
      "pointOfContactId" uuid REFERENCES person (id) ON DELETE SET NULL`,
  },
  { name: 'note', columns: `${base}, title text NOT NULL DEFAULT '', "bodyV2Markdown" text` },
  {
    name: 'noteTarget',
    columns: `${base}, "noteId" uuid REFERENCES note (id) ON DELETE CASCADE,
      "personId" uuid REFERENCES person (id) ON DELETE CASCADE,
      "companyId" uuid REFERENCES company (id) ON DELETE CASCADE,
      "opportunityId" uuid REFERENCES opportunity (id) ON DELETE CASCADE`,
  },
  {
    name: 'task',
    columns: `${base}, title text NOT NULL DEFAULT '', "bodyV2Markdown" text, "dueAt" timestamptz,
      status text DEFAULT 'TODO', "assigneeId" uuid REFERENCES "workspaceMember" (id) ON DELETE SET NULL`,
  },
  {
    name: 'taskTarget',
    columns: `${base}, "taskId" uuid REFERENCES task (id) ON DELETE CASCADE,
      "personId" uuid REFERENCES person (id) ON DELETE CASCADE,
      "companyId" uuid REFERENCES company (id) ON DELETE CASCADE,
      "opportunityId" uuid REFERENCES opportunity (id) ON DELETE CASCADE`,
  },
  {
    name: 'attachment',
    columns: `${base}, name text NOT NULL DEFAULT '', "fullPath" text NOT NULL DEFAULT '', type text,
      "authorId" uuid REFERENCES "workspaceMember" (id) ON DELETE SET NULL,
      "personId" uuid REFERENCES person (id) ON DELETE CASCADE,
      "companyId" uuid REFERENCES company (id) ON DELETE CASCADE,
      "noteId" uuid REFERENCES note (id) ON DELETE CASCADE,
      "taskId" uuid REFERENCES task (id) ON DELETE CASCADE`,
  },
  {
    name: 'favorite',
    columns: `${base}, "workspaceMemberId" uuid REFERENCES "workspaceMember" (id) ON DELETE CASCADE,
      "personId" uuid REFERENCES person (id) ON DELETE CASCADE,
      "companyId" uuid REFERENCES company (id) ON DELETE CASCADE,
      "opportunityId" uuid REFERENCES opportunity (id) ON DELETE CASCADE`,
  },
  {
    name: 'timelineActivity',
    columns: `${base}, name text NOT NULL, "happensAt" timestamptz NOT NULL DEFAULT now(), properties jsonb,
      "workspaceMemberId" uuid REFERENCES "workspaceMember" (id) ON DELETE SET NULL,
      "personId" uuid REFERENCES person (id) ON DELETE CASCADE,
      "companyId" uuid REFERENCES company (id) ON DELETE CASCADE,
      "opportunityId" uuid REFERENCES opportunity (id) ON DELETE CASCADE`,
  },
];

/**
 * The objects the tenant API lists: each gets an index in its list order (keyset pagination on
 * "createdAt", id over live rows), so a page costs the same at 100 rows or 100,000.
 */
export const LISTED_TABLES: readonly string[] = ['company', 'person', 'opportunity', 'note', 'task'];

/** Indexes a later schema version added, as their `CREATE INDEX` statements (unqualified). */
export const ADDED_INDEXES: readonly { since: number; sql: string }[] = [
  {
    since: 2,
    sql: `CREATE INDEX "company_linkedinLink_idx" ON company ("linkedinLinkPrimaryLinkUrl") WHERE "linkedinLinkPrimaryLinkUrl" IS NOT NULL`,
  },
  {
    since: 2,
    sql: `CREATE INDEX "person_linkedinLink_idx" ON person ("linkedinLinkPrimaryLinkUrl") WHERE "linkedinLinkPrimaryLinkUrl" IS NOT NULL`,
  },
];

/** The column names of a table at a schema version (what a reader may select there). */
export function columnsAt(table: WorkspaceTable, version: number): string[] {
  return (table.added ?? []).filter((c) => c.since <= version).map((c) => c.name);
}

/**
 * The whole workspace schema of a version, as one statement batch (one round trip). This is
 * the reference a migration's result is compared with, so it is written out from the layout,
 * never by replaying migrations.
 */
export function workspaceSchemaSql(schema: string, version = WORKSPACE_SCHEMA_VERSION): string {
  if (version < OLDEST_SUPPORTED_SCHEMA_VERSION || version > WORKSPACE_SCHEMA_VERSION) {
    throw new Error(
      `workspace schema version ${version} is outside what this build creates (${OLDEST_SUPPORTED_SCHEMA_VERSION}..${WORKSPACE_SCHEMA_VERSION})`,
    );
  }
  const q = `"${schema}"`;
  const tables = WORKSPACE_TABLES.map((t) => {
    const added = (t.added ?? []).filter((c) => c.since <= version).map((c) => `, "${c.name}" ${c.definition}`);
    return `CREATE TABLE "${t.name}" (${t.columns}${added.join('')});`;
  }).join('\n');
  const indexes = LISTED_TABLES.map(
    (t) => `CREATE INDEX "${t}_list_idx" ON "${t}" ("createdAt", id) WHERE "deletedAt" IS NULL;`,
  ).join('\n');
  const added = ADDED_INDEXES.filter((i) => i.since <= version)
    .map((i) => `${i.sql};`)
    .join('\n');
  return `CREATE SCHEMA ${q};\nSET LOCAL search_path TO ${q};\n${tables}\n${indexes}\n${added}\nSET LOCAL search_path TO DEFAULT;`;
}
