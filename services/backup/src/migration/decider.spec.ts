import { DeciderSpecification } from '@ttm/service-kit/testing';
import { describe, expect, it } from 'vitest';
import { type MigrationCommand, type MigrationEvent, migrationDecider } from './decider.js';

const at = new Date('2025-04-01T08:00:00.000Z');
const source = {
  region: 'us-east-1',
  cluster: 'use1-a',
  kind: 'schema',
  database: 'a',
  schema: 'workspace_x',
} as const;
const target = { ...source, region: 'eu-west-1', cluster: 'euw1-a', database: 'b' };
const ids = { migrationId: '6a5b4c3d-2e1f-4a0b-9c8d-7e6f5a4b3c2d', tenantId: '0b7c4a52-6f1e-4c1a-9d3e-2f5a8b9c0d1e' };
const actor = { kind: 'admin', id: 'ops' } as const;

const start: MigrationCommand = { kind: 'Start', data: { ...ids, source, target, actor }, at };
const step = (s: 'freeze' | 'copy' | 'verify' | 'switch' | 'unfreeze', extra = {}): MigrationCommand => ({
  kind: 'CompleteStep',
  step: s,
  at,
  ...extra,
});

/** given events, when command, then the decided events. */
const spec = DeciderSpecification.for(migrationDecider);

/** Given these commands were carried out in order. */
function given(commands: MigrationCommand[]) {
  const events: MigrationEvent[] = [];
  for (const command of commands)
    events.push(
      ...spec(...events)
        .when(command)
        .events(),
    );
  return spec(...events);
}

describe('migration decider', () => {
  it('records each step once: a redelivered step decides nothing', () => {
    const frozen = given([start, step('freeze')]);
    frozen.when(step('freeze')).thenNothingHappened();
    frozen.when(start).thenNothingHappened();
    expect(frozen.state.frozenAt).toBe(at.toISOString());
  });

  it('keeps the copy checksums for the verify step and the rows for the completion', () => {
    const tables = [{ scope: 'workspace' as const, name: 'company', rows: 3, sha256: 'a'.repeat(64) }];
    const copied = given([start, step('freeze'), step('copy', { rows: 9, tables })]);
    expect(copied.state.sourceTables).toEqual(tables);
    const [completed] = copied
      .when({ kind: 'Complete', freezeMs: 5, durationMs: 7, sourceRemovalDueAt: at, at })
      .events();
    expect(completed?.data).toMatchObject({ rows: 9, freezeMs: 5, source, target });
  });

  it('fails only a running (or unstarted) migration, and removes a source once, after completion', () => {
    const failed = given([start, { kind: 'Fail', ...ids, step: 'verify', reason: 'differs', at }]);
    expect(failed.state.status).toBe('failed');
    failed.when({ kind: 'Fail', ...ids, step: 'verify', reason: 'again', at }).thenNothingHappened();
    failed.when(step('copy')).thenNothingHappened();
    given([start]).when({ kind: 'RemoveSource', at }).thenNothingHappened();
    const done = given([start, { kind: 'Complete', freezeMs: 1, durationMs: 1, sourceRemovalDueAt: at, at }]);
    const removed = given([
      start,
      { kind: 'Complete', freezeMs: 1, durationMs: 1, sourceRemovalDueAt: at, at },
      { kind: 'RemoveSource', at },
    ]);
    expect(done.when({ kind: 'RemoveSource', at }).events()).toHaveLength(1);
    expect(removed.state.sourceRemoved).toBe(true);
    removed.when({ kind: 'RemoveSource', at }).thenNothingHappened();
    const refused = given([{ kind: 'Fail', ...ids, step: 'freeze', reason: 'not registered', at }]);
    expect(refused.state).toMatchObject({ status: 'failed', ...ids });
  });
});
