import { describe, expect, it } from 'vitest';
import { catalogMetadataProblems, renderBuilder, subjectCatalog } from './subjectCatalog.js';
import { isWildcard, patternToFilter, subjectCovers, subjectsOverlap } from './subjectMatch.js';
import {
  bucketDefinitions,
  CommandSubjects,
  Consumers,
  CoreSubjects,
  consumerDefinitions,
  objectStoreDefinitions,
  projectionBatchSize,
  Services,
  Streams,
  SubjectFilters,
  Subjects,
  streamDefinitions,
  token,
} from './topology.js';

/** Every unordered pair of a list. */
function pairs<T>(items: readonly T[]): [T, T][] {
  return items.flatMap((a, i) => items.slice(i + 1).map((b): [T, T] => [a, b]));
}

describe('subject algebra', () => {
  it('covers', () => {
    expect(subjectCovers('cmd.>', 'cmd.tenant.register')).toBe(true);
    expect(subjectCovers('cmd.>', 'cmd.tenant.>')).toBe(true);
    expect(subjectCovers('cmd.>', 'cmd')).toBe(false);
    expect(subjectCovers('cmd.tenant.>', 'cmd.>')).toBe(false);
    expect(subjectCovers('evt.*.*', 'evt.tenant.{tenantId}')).toBe(true);
    expect(subjectCovers('evt.tenant.*', 'evt.*.x')).toBe(false);
    expect(subjectCovers('evt.tenant.*', 'evt.tenant.a.b')).toBe(false);
    expect(subjectCovers('evt.*', 'evt.>')).toBe(false);
    expect(subjectCovers('a.b', 'a.b')).toBe(true);
  });

  it('overlaps', () => {
    expect(subjectsOverlap('cmd.>', 'evt.>')).toBe(false);
    expect(subjectsOverlap('cmd.tenant.>', 'cmd.*.register')).toBe(true);
    expect(subjectsOverlap('cmd.tenant.>', 'cmd.usage.>')).toBe(false);
    expect(subjectsOverlap('a.*', 'a.b.c')).toBe(false);
    expect(subjectsOverlap('a.>', 'a')).toBe(false);
    expect(subjectsOverlap('a.b', 'a.b')).toBe(true);
    expect(patternToFilter('usage.{tenantId}.{meter}')).toBe('usage.*.*');
    expect(isWildcard('usage.*.x')).toBe(true);
    expect(isWildcard('cmd.tenant.register')).toBe(false);
  });
});

describe('streams', () => {
  it('names are upper-case without dots, and unique', () => {
    for (const s of streamDefinitions) expect(s.name).toMatch(/^[A-Z][A-Z0-9_-]*$/);
    expect(new Set(streamDefinitions.map((s) => s.name)).size).toBe(streamDefinitions.length);
  });

  it('every Streams constant has a definition, and the other way round', () => {
    expect(streamDefinitions.map((s) => s.name).sort()).toEqual(Object.values(Streams).sort());
  });

  it('every stream has a description', () => {
    for (const s of streamDefinitions) expect(s.description.trim().length, s.name).toBeGreaterThan(10);
  });

  it("subjects don't overlap, within or across streams", () => {
    const all = streamDefinitions.flatMap((s) => s.subjects.map((subject) => ({ stream: s.name, subject })));
    const overlaps = pairs(all)
      .filter(([a, b]) => subjectsOverlap(a.subject, b.subject))
      .map(([a, b]) => `${a.stream} ${a.subject} / ${b.stream} ${b.subject}`);
    expect(overlaps).toEqual([]);
  });

  it('the source of truth and the audit trail deny delete and purge', () => {
    for (const name of [Streams.EVENTS, Streams.AUDIT]) {
      expect(streamDefinitions.find((s) => s.name === name)).toMatchObject({ denyDelete: true, denyPurge: true });
    }
    expect(streamDefinitions.find((s) => s.name === Streams.COMMANDS)?.retention).toBe('workqueue');
  });
});

describe('consumers', () => {
  it('every consumer has a description, a known owner and a unique durable name', () => {
    for (const c of consumerDefinitions) {
      expect(c.description.trim().length, c.durable).toBeGreaterThan(10);
      expect(Services).toContain(c.owner);
      expect(c.durable).toMatch(/^[a-z][a-z0-9-]*$/);
    }
    expect(new Set(consumerDefinitions.map((c) => c.durable)).size).toBe(consumerDefinitions.length);
    expect(consumerDefinitions.map((c) => c.durable).sort()).toEqual(Object.values(Consumers).sort());
  });

  it("every consumer's filter is covered by its stream's subjects", () => {
    for (const c of consumerDefinitions) {
      const stream = streamDefinitions.find((s) => s.name === c.stream);
      expect(stream, `${c.durable}: unknown stream ${c.stream}`).toBeDefined();
      const covered = stream!.subjects.some((subject) => subjectCovers(subject, c.filterSubject));
      expect(covered, `${c.durable}: ${c.filterSubject} is outside ${c.stream} ${stream!.subjects.join(',')}`).toBe(
        true,
      );
    }
  });

  it("command consumers' filters on the COMMANDS work queue don't overlap", () => {
    const onWorkQueue = consumerDefinitions.filter((c) => c.stream === Streams.COMMANDS);
    expect(onWorkQueue.every((c) => c.kind === 'commands')).toBe(true);
    const overlaps = pairs(onWorkQueue)
      .filter(([a, b]) => subjectsOverlap(a.filterSubject, b.filterSubject))
      .map(([a, b]) => `${a.durable} ${a.filterSubject} / ${b.durable} ${b.filterSubject}`);
    expect(overlaps).toEqual([]);
  });

  it('every command subject is handled by exactly one command consumer', () => {
    const onWorkQueue = consumerDefinitions.filter((c) => c.stream === Streams.COMMANDS);
    for (const subject of Object.values(CommandSubjects)) {
      const handlers = onWorkQueue.filter((c) => subjectCovers(c.filterSubject, subject)).map((c) => c.durable);
      expect(handlers, subject).toHaveLength(1);
    }
  });

  it('projections take batches of one size (the runner keeps their order by letting one instance pull)', () => {
    for (const c of consumerDefinitions.filter((c) => c.kind === 'projection'))
      expect(c.maxAckPending).toBe(projectionBatchSize);
  });
});

describe('buckets and object stores', () => {
  it('have descriptions and NATS-safe names', () => {
    for (const b of [...bucketDefinitions, ...objectStoreDefinitions]) {
      expect(b.description.trim().length, b.bucket).toBeGreaterThan(10);
      expect(b.bucket).toMatch(/^[a-zA-Z0-9_-]+$/);
    }
  });
});

describe('token()', () => {
  it.each(['a.b', 'a*', '>', 'a b', 'tab\there', 'new\nline', ' ', ''])('rejects %j', (value) => {
    expect(() => token(value)).toThrow(/invalid subject token/);
  });

  it('accepts ids, slugs and names', () => {
    for (const value of ['0b7c4a52-6f1e-4c1a-9d3e-2f5a8b9c0d1e', 'api-requests', 'system', 'COMMANDS', 'under_score']) {
      expect(token(value)).toBe(value);
    }
  });

  it('guards every builder', () => {
    expect(() => Subjects.tenantEvents('a.b')).toThrow();
    expect(() => Subjects.usage('t', 'm*')).toThrow();
    expect(() => Subjects.audit('system', 'a >')).toThrow();
  });
});

describe('subject catalog', () => {
  const patterns = subjectCatalog.map((e) => e.pattern);

  it('holds every CommandSubjects value', () => {
    for (const subject of Object.values(CommandSubjects)) expect(patterns).toContain(subject);
  });

  it('holds every SubjectFilters value', () => {
    for (const filter of Object.values(SubjectFilters)) expect(patterns).toContain(filter);
  });

  it('holds every Subjects builder, rendered with {param} placeholders', () => {
    for (const [key, builder] of Object.entries(Subjects)) {
      const entry = subjectCatalog.find((e) => e.id === `Subjects.${key}`);
      expect(entry, `Subjects.${key}`).toBeDefined();
      expect(entry!.parameters).toHaveLength(builder.length);
      expect(entry!.pattern).toBe(renderBuilder(builder as (...a: string[]) => string, entry!.parameters));
    }
  });

  it('has no entry that is not a constant', () => {
    expect(subjectCatalog).toHaveLength(
      Object.keys(CommandSubjects).length +
        Object.keys(CoreSubjects).length +
        Object.keys(SubjectFilters).length +
        Object.keys(Subjects).length,
    );
    expect(new Set(subjectCatalog.map((e) => e.id)).size).toBe(subjectCatalog.length);
  });

  it('has the metadata of every constant (description, builder placeholders, command definition)', () => {
    expect(catalogMetadataProblems()).toEqual([]);
  });

  it('puts every entry in exactly one stream, but the core NATS subjects in none', () => {
    const homeless = subjectCatalog
      .filter((e) => e.stream === undefined && e.source !== 'CoreSubjects')
      .map((e) => `${e.id} ${e.pattern}`);
    expect(homeless).toEqual([]);
    for (const subject of Object.values(CoreSubjects)) {
      const capturing = streamDefinitions.filter((s) => s.subjects.some((f) => subjectCovers(f, subject)));
      expect(
        capturing.map((s) => s.name),
        subject,
      ).toEqual([]);
    }
  });

  it('classifies entries by shape', () => {
    for (const e of subjectCatalog) {
      if (e.source === 'SubjectFilters') expect(isWildcard(e.pattern), e.id).toBe(true);
      if (e.source === 'CommandSubjects') expect(e.kind).toBe('subject');
      expect(e.description.length, e.id).toBeGreaterThan(0);
    }
  });

  it('renders the documented subjects', () => {
    expect(patterns).toEqual(
      expect.arrayContaining([
        'cmd.tenant.register',
        'evt.tenant.{tenantId}',
        'evt.backup.{backupId}',
        'usage.{tenantId}.{meter}',
        'billing.{tenantId}.{meter}',
        'audit.{scope}.{action}',
        'dlq.{stream}.{consumer}',
        '$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{stream}.{consumer}',
      ]),
    );
  });
});
