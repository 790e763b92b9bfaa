import { randomUUID } from 'node:crypto';
import { ContractViolation, decodeData, encodeMessage, UsageRecordedBatch } from '@ttm/contracts';
import { describe, expect, it } from 'vitest';
import { readBatchRecords } from './readBatch.js';

const encoder = new TextEncoder();
const at = '2025-02-15T09:00:01.000Z';

function body(data: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(data));
}

function valid() {
  return {
    meter: 'api_calls',
    kind: 'count',
    batchKey: 'gw-1:7:0',
    records: [
      { tenantId: randomUUID(), value: 3, at, dedupKey: 'gw-1:7' },
      { tenantId: randomUUID(), value: 0, at: '2025-02-15T10:00:01+01:00', dedupKey: 'gw-1:7' },
    ],
  };
}

/** What zod makes of a body: the records, or the violation. */
function viaSchema(b: Uint8Array) {
  try {
    const data = decodeData(UsageRecordedBatch, b);
    return data.records.map((r) => ({
      tenantId: r.tenantId,
      value: r.value,
      at: Date.parse(r.at),
      dedupKey: r.dedupKey,
    }));
  } catch (error) {
    return error instanceof ContractViolation ? 'violation' : 'other';
  }
}

function viaFastPath(b: Uint8Array) {
  try {
    return readBatchRecords(b).records.map(({ tenantId, value, at: time, dedupKey }) => ({
      tenantId,
      value,
      at: time,
      dedupKey,
    }));
  } catch (error) {
    return error instanceof ContractViolation ? 'violation' : 'other';
  }
}

describe('readBatchRecords', () => {
  it('reads what the schema reads, records with their message meter and kind', () => {
    const data = valid();
    const message = encodeMessage(UsageRecordedBatch, data as never, { source: '/test' });
    const read = readBatchRecords(message.body);
    expect(read.meter).toBe('api_calls');
    expect(read.records.every((r) => r.meter === 'api_calls' && r.kind === 'count')).toBe(true);
    expect(viaFastPath(message.body)).toEqual(viaSchema(message.body));
  });

  type Body = ReturnType<typeof valid>;
  const record =
    (i: number, patch: Record<string, unknown>) =>
    (d: Body): unknown => ({ ...d, records: d.records.map((r, j) => (j === i ? { ...r, ...patch } : r)) });
  const top =
    (patch: Record<string, unknown>) =>
    (d: Body): unknown => ({ ...d, ...patch });
  const broken: [string, (d: Body) => unknown][] = [
    ['a tenant id that is not a uuid', record(1, { tenantId: 'tenant-1' })],
    ['a negative value', record(0, { value: -1 })],
    ['a fractional value', record(0, { value: 1.5 })],
    ['an unsafe integer', record(0, { value: 2 ** 60 })],
    ['a value as a string', record(0, { value: '3' })],
    ['a time without offset', record(0, { at: '2025-02-15 09:00:01' })],
    ['a dedup key with a space', record(0, { dedupKey: 'gw 1' })],
    ['an empty dedup key', record(0, { dedupKey: '' })],
    ['a 201-character dedup key', record(0, { dedupKey: 'k'.repeat(201) })],
    ['a missing dedup key', record(0, { dedupKey: undefined })],
    ['an unknown meter', top({ meter: 'bytes' })],
    ['an unknown kind', top({ kind: 'sum' })],
    ['no records', top({ records: [] })],
    ['2,001 records', (d) => ({ ...d, records: Array.from({ length: 2_001 }, () => d.records[0]!) })],
    ['a record that is null', (d) => ({ ...d, records: [d.records[0], null] })],
    ['a missing batch key', top({ batchKey: undefined })],
    ['records that are not an array', top({ records: {} })],
    ['an array body', () => []],
  ];
  for (const [name, breakIt] of broken) {
    it(`refuses ${name}, as the schema does`, () => {
      const b = body(breakIt(valid()));
      expect(viaSchema(b)).toBe('violation');
      expect(viaFastPath(b)).toBe('violation');
    });
  }

  it('refuses a body that is not JSON', () => {
    expect(viaFastPath(encoder.encode('{"meter":'))).toBe('violation');
  });

  it('keeps unknown fields out, as the schema does', () => {
    const data = valid();
    const b = body({ ...data, extra: 1, records: [{ ...data.records[0], note: 'x' }, data.records[1]] });
    expect(viaFastPath(b)).toEqual(viaSchema(b));
  });
});
