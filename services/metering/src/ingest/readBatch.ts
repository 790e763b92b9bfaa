import {
  DEDUP_KEY_PATTERN,
  DedupKey,
  decodeData,
  type Meter,
  MeterKind,
  Meters,
  TenantId,
  Timestamp,
  USAGE_BATCH_MAX_RECORDS,
  UsageRecordedBatch,
} from '@ttm/contracts';
import type { UsageRecord } from './windowDeltas.js';

const decoder = new TextDecoder();

/** Tenant ids and timestamps that passed their schema: a flush repeats the same ones in every message. */
const validTenants = new Set<string>();
const validTimes = new Set<string>();
const REMEMBERED = 100_000;

/**
 * The records of a `ttm.usage.recorded.v2` body, checked against its schema.
 *
 * Why not only `decodeData`: zod's object parse of 1,000 records was a third of metering's CPU
 * per message (profiled). The same rules are checked here directly, each tenant id and timestamp
 * through its own zod schema once and then remembered (a gateway flush repeats the same `at` and
 * the same tenants). Anything this path does not accept goes through `decodeData`, which throws
 * the ContractViolation (or accepts it: this path is never more lenient than the schema).
 * `readBatch.spec.ts` compares both on valid and broken bodies.
 */
export function readBatchRecords(body: Uint8Array): { meter: Meter; kind: MeterKind; records: UsageRecord[] } {
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(body));
  } catch {
    json = undefined;
  }
  const fast = json === undefined ? undefined : checked(json);
  if (fast) return fast;
  const data = decodeData(UsageRecordedBatch, body);
  return {
    meter: data.meter,
    kind: data.kind,
    records: data.records.map((r) => ({
      tenantId: r.tenantId,
      meter: data.meter,
      kind: data.kind,
      value: r.value,
      at: Date.parse(r.at),
      dedupKey: r.dedupKey,
    })),
  };
}

function checked(json: unknown): { meter: Meter; kind: MeterKind; records: UsageRecord[] } | undefined {
  if (!isObject(json)) return undefined;
  const { meter, kind, batchKey, records } = json;
  if (typeof meter !== 'string' || !(Meters as readonly string[]).includes(meter)) return undefined;
  if (!MeterKind.safeParse(kind).success || !DedupKey.safeParse(batchKey).success) return undefined;
  if (!Array.isArray(records) || records.length < 1 || records.length > USAGE_BATCH_MAX_RECORDS) return undefined;
  const out: UsageRecord[] = new Array(records.length);
  for (let i = 0; i < records.length; i++) {
    const r: unknown = records[i];
    if (!isObject(r)) return undefined;
    const { tenantId, value, at, dedupKey } = r;
    if (typeof tenantId !== 'string' || !known(validTenants, tenantId, TenantId)) return undefined;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) return undefined;
    if (typeof at !== 'string' || !known(validTimes, at, Timestamp)) return undefined;
    if (typeof dedupKey !== 'string' || !DEDUP_KEY_PATTERN.test(dedupKey)) return undefined;
    out[i] = {
      tenantId,
      meter: meter as Meter,
      kind: kind as MeterKind,
      value,
      at: Date.parse(at),
      dedupKey,
    };
  }
  return { meter: meter as Meter, kind: kind as MeterKind, records: out };
}

function known(valid: Set<string>, value: string, schema: { safeParse(v: unknown): { success: boolean } }): boolean {
  if (valid.has(value)) return true;
  if (!schema.safeParse(value).success) return false;
  if (valid.size >= REMEMBERED) valid.clear();
  valid.add(value);
  return true;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
