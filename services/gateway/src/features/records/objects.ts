import { z } from 'zod';
import type { RecordRow, RecordTable } from './workspaceRecords.js';

/**
 * The standard Twenty objects the tenant API serves, and for each the fields a client may read,
 * write and filter on: the allow-list every query is built from. Field names are Twenty's column
 * names (camelCase, composite fields flattened as Twenty stores them: `nameFirstName`,
 * `amountAmountMicros`), so a record reads the same here as in the workspace schema.
 */
interface FieldDef {
  schema: z.ZodType;
  /** The column accepts null. */
  nullable: boolean;
  /** `?field=value` equality filter on lists. */
  filter: boolean;
  /** int8 column: pg returns text, the API a number. */
  bigint?: boolean;
}

export interface ObjectDef extends RecordTable {
  name: ObjectName;
  /** Singular, for messages. */
  label: string;
  fields: Record<string, FieldDef>;
}

const text = (max = 500): FieldDef => ({ schema: z.string().max(max), nullable: false, filter: true });
const optionalText = (max = 500, filter = false): FieldDef => ({ schema: z.string().max(max), nullable: true, filter });
const markdown: FieldDef = { schema: z.string().max(100_000), nullable: true, filter: false };
const relation = (to: string): FieldDef => ({
  schema: z.uuid().describe(`id of a ${to} of this workspace`),
  nullable: true,
  filter: true,
});
const micros: FieldDef = {
  schema: z.int().describe('Amount in millionths of the currency unit'),
  nullable: true,
  filter: false,
  bigint: true,
};
const currency: FieldDef = {
  schema: z
    .string()
    .regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as EUR')
    .describe('ISO 4217'),
  nullable: true,
  filter: true,
};
const timestamp: FieldDef = { schema: z.iso.datetime({ offset: true }), nullable: true, filter: false };
const position: FieldDef = {
  schema: z.number().describe('Sort position in Twenty views'),
  nullable: true,
  filter: false,
};

export const OBJECT_NAMES = ['company', 'person', 'opportunity', 'note', 'task'] as const;
export type ObjectName = (typeof OBJECT_NAMES)[number];

function define(name: ObjectName, label: string, fields: Record<string, FieldDef>): ObjectDef {
  return { name, label, table: name, columns: Object.keys(fields), fields };
}

export const OBJECTS: Readonly<Record<ObjectName, ObjectDef>> = {
  company: define('company', 'company', {
    name: text(),
    domainNamePrimaryLinkUrl: optionalText(2000, true),
    employees: { schema: z.int().min(0).max(2_147_483_647), nullable: true, filter: false },
    annualRecurringRevenueAmountMicros: micros,
    annualRecurringRevenueCurrencyCode: currency,
    addressAddressCity: optionalText(200, true),
    addressAddressCountry: optionalText(200, true),
    idealCustomerProfile: { schema: z.boolean(), nullable: false, filter: true },
    accountOwnerId: relation('workspace member'),
    position,
  }),
  person: define('person', 'person', {
    nameFirstName: text(200),
    nameLastName: text(200),
    emailsPrimaryEmail: { schema: z.email().max(254), nullable: true, filter: true },
    phonesPrimaryPhoneNumber: optionalText(50),
    jobTitle: text(200),
    city: optionalText(200, true),
    companyId: relation('company'),
    position,
  }),
  opportunity: define('opportunity', 'opportunity', {
    name: text(),
    amountAmountMicros: micros,
    amountCurrencyCode: currency,
    closeDate: timestamp,
    stage: {
      schema: z.enum(['NEW', 'SCREENING', 'MEETING', 'PROPOSAL', 'CUSTOMER']),
      nullable: false,
      filter: true,
    },
    companyId: relation('company'),
    pointOfContactId: relation('person'),
    position,
  }),
  note: define('note', 'note', { title: text(), bodyV2Markdown: markdown, position }),
  task: define('task', 'task', {
    title: text(),
    bodyV2Markdown: markdown,
    dueAt: timestamp,
    status: { schema: z.enum(['TODO', 'IN_PROGRESS', 'DONE']), nullable: true, filter: true },
    assigneeId: relation('workspace member'),
    position,
  }),
};

const fieldSchema = (field: FieldDef) => (field.nullable ? field.schema.nullable() : field.schema);

/** The body of a create: every field optional (the column's default applies). Unknown fields are refused. */
export function createBody(def: ObjectDef) {
  return z.strictObject(Object.fromEntries(Object.entries(def.fields).map(([k, f]) => [k, fieldSchema(f).optional()])));
}

/** The body of a PATCH: the fields to change, at least one. */
export function updateBody(def: ObjectDef) {
  return createBody(def).refine((body) => Object.keys(body).length > 0, 'send at least one field to change');
}

/** The same shape without `strict`, for the OpenAPI document (the handler checks strictly). */
export function documentedBody(def: ObjectDef) {
  return z.object(Object.fromEntries(Object.entries(def.fields).map(([k, f]) => [k, fieldSchema(f).optional()])));
}

export const MAX_PAGE = 200;

/** List query fields: page size, cursor, and one equality filter per filterable field. */
function listQueryShape(def: ObjectDef) {
  const filters = Object.entries(def.fields)
    .filter(([, f]) => f.filter)
    .map(([k, f]) => [k, f.schema.optional().describe(`only records whose ${k} equals this`)] as const);
  return {
    limit: z.int().min(1).max(MAX_PAGE).optional().describe(`Page size (default 50, at most ${MAX_PAGE})`),
    cursor: z.string().max(512).optional().describe('`next_cursor` of the previous page'),
    ...Object.fromEntries(filters),
  };
}

/** The list query as the handler checks it: an unknown parameter is refused, not ignored. */
export function listQuery(def: ObjectDef) {
  return z.strictObject(listQueryShape(def));
}

/** The list query for the OpenAPI document. */
export function documentedListQuery(def: ObjectDef) {
  return z.object(listQueryShape(def));
}

/** A record as the API answers it. */
export function recordSchema(def: ObjectDef) {
  return z.object({
    id: z.uuid(),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
    ...Object.fromEntries(Object.entries(def.fields).map(([k, f]) => [k, fieldSchema(f)])),
  });
}

export function recordOf(def: ObjectDef, row: RecordRow): Record<string, unknown> {
  const record: Record<string, unknown> = {
    id: row.id,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
  for (const [name, field] of Object.entries(def.fields)) {
    const value = row[name];
    if (value instanceof Date) record[name] = value.toISOString();
    else if (field.bigint && value !== null && value !== undefined) record[name] = Number(value);
    else record[name] = value ?? null;
  }
  return record;
}
