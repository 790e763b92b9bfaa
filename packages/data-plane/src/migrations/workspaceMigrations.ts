import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { OLDEST_SUPPORTED_SCHEMA_VERSION, WORKSPACE_SCHEMA_VERSION } from '../twentyLayout.js';

/**
 * `online`: runs while the tenant serves (nullable columns, small or concurrent indexes,
 * expand/contract). `needs-freeze`: the tenant's writes must be frozen while it runs (the
 * backup service's write freeze, as a migration uses it).
 */
export type MigrationMode = 'online' | 'needs-freeze';

/** One schema version: the SQL that brings a workspace from `version - 1` to `version`, and back. */
export interface WorkspaceMigration {
  version: number;
  name: string;
  mode: MigrationMode;
  /** Unqualified statements, run with search_path set to the workspace schema. */
  up: string;
  down: string;
}

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations', import.meta.url));

const FILE = /^(\d{4})-([a-z0-9-]+)\.(up|down)\.sql$/;

/** Read `migrations/NNNN-name.{up,down}.sql`; every version above the oldest needs both halves. */
export function loadWorkspaceMigrations(dir = MIGRATIONS_DIR): WorkspaceMigration[] {
  const byVersion = new Map<number, Partial<WorkspaceMigration> & { version: number }>();
  for (const file of readdirSync(dir).sort()) {
    const match = FILE.exec(file);
    if (!match) continue;
    const version = Number(match[1]);
    const sql = readFileSync(`${dir}/${file}`, 'utf8');
    const entry = byVersion.get(version) ?? { version, name: match[2] ?? '' };
    const mode = /^--\s*mode:\s*(online|needs-freeze)\s*$/m.exec(sql)?.[1];
    if (!mode) throw new Error(`${file} does not declare "-- mode: online" or "-- mode: needs-freeze"`);
    if (match[3] === 'up') {
      entry.up = sql;
      entry.mode = mode as MigrationMode;
    } else {
      entry.down = sql;
    }
    byVersion.set(version, entry);
  }
  const migrations: WorkspaceMigration[] = [];
  for (let version = OLDEST_SUPPORTED_SCHEMA_VERSION + 1; version <= WORKSPACE_SCHEMA_VERSION; version++) {
    const entry = byVersion.get(version);
    if (!entry?.up || !entry.down || !entry.mode || !entry.name) {
      throw new Error(`workspace schema version ${version} needs both an up and a down migration in ${dir}`);
    }
    migrations.push({ version, name: entry.name, mode: entry.mode, up: entry.up, down: entry.down });
  }
  return migrations;
}

export const WORKSPACE_MIGRATIONS: readonly WorkspaceMigration[] = loadWorkspaceMigrations();

/** One step of a path between versions: the SQL to run and the version it leaves the workspace at. */
export interface MigrationStep {
  version: number;
  to: number;
  direction: 'up' | 'down';
  mode: MigrationMode;
  sql: string;
}

/** The steps from one version to another, in order (down steps when `to` is lower). */
export function migrationPath(
  from: number,
  to: number,
  migrations: readonly WorkspaceMigration[] = WORKSPACE_MIGRATIONS,
): MigrationStep[] {
  const known = (v: number) => v === OLDEST_SUPPORTED_SCHEMA_VERSION || migrations.some((m) => m.version === v);
  if (!known(from) || !known(to)) {
    throw new Error(`no migration path from schema version ${from} to ${to} in this build`);
  }
  const steps: MigrationStep[] = [];
  if (to >= from) {
    for (const m of migrations.filter((m) => m.version > from && m.version <= to)) {
      steps.push({ version: m.version, to: m.version, direction: 'up', mode: m.mode, sql: m.up });
    }
  } else {
    for (const m of migrations.filter((m) => m.version <= from && m.version > to).reverse()) {
      steps.push({ version: m.version, to: m.version - 1, direction: 'down', mode: m.mode, sql: m.down });
    }
  }
  return steps;
}
