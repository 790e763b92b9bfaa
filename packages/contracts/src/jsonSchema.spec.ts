import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { externalMessageDefinitions } from './advisories.js';
import { MESSAGE_TYPE_PATTERN } from './cloudEventAttributes.js';
import { ASYNCAPI_FILE, EXPORT_COMMAND, exportDocs, SCHEMAS_DIR, stableJson } from './docsExport.js';
import { encodeMessage } from './envelope.js';
import {
  CLOUD_EVENT_ATTRIBUTES_FILE,
  exportJsonSchemas,
  JSON_SCHEMA_DIALECT,
  type JsonSchema,
  schemaFileName,
  schemaId,
} from './jsonSchema.js';
import { messageDefinitions } from './registry.js';
import { sampleCloudEventHeaders, sampleData, sampleExternalData, sampleFor } from './samples.js';
import { RegisterOrganization, SuspendTenant } from './tenant/commands.js';
import { ProvisioningStepCompleted, TenantRegistered } from './tenant/events.js';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const schemas = exportJsonSchemas();

/** A strict ajv, as a careful non-TypeScript subscriber would configure it. */
function compile(schema: JsonSchema): ValidateFunction {
  const ajv = new Ajv({ strict: true, allErrors: true });
  addFormats(ajv);
  return ajv.compile(schema);
}

/** The sample each exported file must accept. */
const samples: Record<string, unknown> = {
  ...Object.fromEntries(messageDefinitions.map((d) => [schemaFileName(d.type), sampleData[d.type]])),
  ...Object.fromEntries(externalMessageDefinitions.map((d) => [schemaFileName(d.type), sampleExternalData[d.type]])),
  [CLOUD_EVENT_ATTRIBUTES_FILE]: sampleCloudEventHeaders,
};

describe('exported JSON Schemas', () => {
  it('has one file per command and event, the advisory, and the CloudEvent attributes', () => {
    const expected = [
      ...messageDefinitions.map((d) => schemaFileName(d.type)),
      ...externalMessageDefinitions.map((d) => schemaFileName(d.type)),
      CLOUD_EVENT_ATTRIBUTES_FILE,
    ];
    expect(Object.keys(schemas).sort()).toEqual(expected.sort());
  });

  it.each(Object.keys(schemas))('%s: draft-07 with $id, title and description', (file) => {
    const schema = schemas[file]!;
    expect(schema.$schema).toBe(JSON_SCHEMA_DIALECT);
    expect(schema.$id).toBe(schemaId(file));
    expect(schema.title).toEqual(expect.any(String));
    expect(schema.description).toEqual(expect.any(String));
    expect((schema.description as string).length).toBeGreaterThan(10);
  });

  it('titles each message schema with its ce-type', () => {
    for (const def of messageDefinitions) expect(schemas[schemaFileName(def.type)]!.title).toBe(def.type);
  });

  it.each(Object.keys(schemas))('%s: compiles in strict ajv, accepts its sample, rejects a broken one', (file) => {
    const validate = compile(schemas[file]!);
    const sample = samples[file];
    expect(sample, `no sample for ${file}`).toBeDefined();
    expect(validate(sample), JSON.stringify(validate.errors)).toBe(true);

    const required = (schemas[file]!.required as string[] | undefined) ?? [];
    if (required.length === 0) {
      // A union (one object shape or another): an empty object is none of them.
      expect(schemas[file]!.oneOf ?? schemas[file]!.anyOf, file).toBeDefined();
      expect(validate({})).toBe(false);
      return;
    }
    const broken = structuredClone(sample) as Record<string, unknown>;
    delete broken[required[0]!];
    expect(validate(broken)).toBe(false);
    expect(validate.errors?.[0]).toMatchObject({ keyword: 'required', params: { missingProperty: required[0] } });
  });

  it('agrees with zod on field-level violations', () => {
    const check = (file: string, data: unknown, instancePath: string) => {
      const validate = compile(schemas[file]!);
      expect(validate(data)).toBe(false);
      expect(validate.errors?.map((e) => e.instancePath)).toContain(instancePath);
    };
    check(
      schemaFileName(RegisterOrganization.type),
      { ...sampleFor(RegisterOrganization), adminEmail: 'not-an-email' },
      '/adminEmail',
    );
    check(
      schemaFileName(RegisterOrganization.type),
      { ...sampleFor(RegisterOrganization), adminPasswordHash: 'plain' },
      '/adminPasswordHash',
    );
    check(
      schemaFileName(ProvisioningStepCompleted.type),
      { ...sampleFor(ProvisioningStepCompleted), progress: 101 },
      '/progress',
    );
    check(
      schemaFileName(ProvisioningStepCompleted.type),
      { ...sampleFor(ProvisioningStepCompleted), progress: '40' },
      '/progress',
    );
    check(
      schemaFileName(SuspendTenant.type),
      { ...sampleFor(SuspendTenant), actor: { kind: 'robot', id: 'x' } },
      '/actor/kind',
    );
    check(
      schemaFileName(TenantRegistered.type),
      { ...sampleFor(TenantRegistered), registeredAt: 'yesterday' },
      '/registeredAt',
    );
  });

  it('lets unknown fields through, as zod readers do (adding an optional field is not breaking)', () => {
    const validate = compile(schemas[schemaFileName(TenantRegistered.type)]!);
    expect(validate({ ...sampleFor(TenantRegistered), addedInAMinorRelease: true })).toBe(true);
  });

  it('validates the headers encodeMessage writes against cloudevent-attributes.json', () => {
    const validate = compile(schemas[CLOUD_EVENT_ATTRIBUTES_FILE]!);
    for (const def of messageDefinitions) {
      const { headers } = encodeMessage(def, sampleFor(def), { source: '/ttm/test', subject: 'x' });
      expect(validate(headers), `${def.type}: ${JSON.stringify(validate.errors)}`).toBe(true);
    }
    const { 'ce-type': _dropped, ...withoutType } = sampleCloudEventHeaders;
    expect(validate(withoutType)).toBe(false);
    expect(validate({ ...sampleCloudEventHeaders, 'ce-specversion': '0.3' })).toBe(false);
    expect(validate({ ...sampleCloudEventHeaders, 'ce-type': 'tenant.registered' })).toBe(false);
  });

  it('uses the same ce-type rule as defineEvent/defineCommand', () => {
    for (const def of messageDefinitions) expect(def.type).toMatch(MESSAGE_TYPE_PATTERN);
  });

  it('is deterministic', () => {
    expect(stableJson(exportJsonSchemas())).toBe(stableJson(schemas));
  });
});

describe('generated docs/', () => {
  const stale = `docs/ is stale: run \`${EXPORT_COMMAND}\` and commit the result`;

  it('every generated file on disk matches the code', async () => {
    const files = exportDocs();
    expect(Object.keys(files)).toContain(ASYNCAPI_FILE);
    const differing: string[] = [];
    for (const [path, content] of Object.entries(files)) {
      const onDisk = await readFile(join(repoRoot, path), 'utf8').catch(() => undefined);
      if (onDisk !== content) differing.push(onDisk === undefined ? `${path} (missing)` : path);
    }
    expect(differing, stale).toEqual([]);
  });

  it('docs/schemas holds no schema the code no longer exports', async () => {
    const files = exportDocs();
    const onDisk = (await readdir(join(repoRoot, SCHEMAS_DIR))).filter((n) => n.endsWith('.json'));
    const extra = onDisk.filter((name) => !(`${SCHEMAS_DIR}/${name}` in files));
    expect(extra, stale).toEqual([]);
  });

  it('stableJson sorts keys, keeps array order, ends with a newline', () => {
    expect(stableJson({ b: 1, a: [3, { d: 1, c: 2 }] })).toBe(
      '{\n  "a": [\n    3,\n    {\n      "c": 2,\n      "d": 1\n    }\n  ],\n  "b": 1\n}\n',
    );
  });
});
