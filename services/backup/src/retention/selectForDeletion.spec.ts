import { describe, expect, it } from 'vitest';
import { type RetainedBackup, selectForDeletion } from './selectForDeletion.js';

const now = new Date('2025-03-12T12:00:00Z'); // a Wednesday
const at = (iso: string, id = iso): RetainedBackup => ({ id, completedAt: new Date(iso) });
const none = { keepLast: 0, keepDaily: 0, keepWeekly: 0 };

describe('selectForDeletion', () => {
  it('keeps the last N and deletes the rest, oldest first', () => {
    const backups = [1, 2, 3, 4, 5].map((h) => at(`2025-03-12T0${h}:00:00Z`, `b${h}`));
    expect(selectForDeletion(backups, { ...none, keepLast: 3 }, now)).toEqual(['b1', 'b2']);
    expect(selectForDeletion(backups, { ...none, keepLast: 5 }, now)).toEqual([]);
    expect(selectForDeletion(backups, none, now)).toEqual(['b1', 'b2', 'b3', 'b4', 'b5']);
  });

  it('keeps the newest backup of each of the last N days, today included', () => {
    const backups = [
      at('2025-03-12T01:00:00Z', 'today-early'),
      at('2025-03-12T09:00:00Z', 'today-late'),
      at('2025-03-11T23:59:59Z', 'yesterday-late'),
      at('2025-03-11T00:00:00Z', 'yesterday-early'),
      at('2025-03-09T10:00:00Z', 'three-days-ago'),
      at('2025-03-08T10:00:00Z', 'four-days-ago'),
    ];
    expect(selectForDeletion(backups, { ...none, keepDaily: 4 }, now)).toEqual([
      'four-days-ago',
      'yesterday-early',
      'today-early',
    ]);
    // Windows are calendar days back from now: day 3 (2025-03-10) has no backup, and is not replaced by an older one.
    expect(selectForDeletion(backups, { ...none, keepDaily: 3 }, now)).toContain('three-days-ago');
  });

  it('keeps the newest backup of each of the last N ISO weeks (Monday to Sunday, UTC)', () => {
    const backups = [
      at('2025-03-10T00:00:00Z', 'this-monday'),
      at('2025-03-09T23:00:00Z', 'last-sunday'),
      at('2025-03-03T00:00:00Z', 'last-monday'),
      at('2025-03-01T12:00:00Z', 'two-weeks-ago-saturday'),
      at('2025-02-20T12:00:00Z', 'three-weeks-ago'),
    ];
    expect(selectForDeletion(backups, { ...none, keepWeekly: 3 }, now)).toEqual(['three-weeks-ago', 'last-monday']);
  });

  it('keeps the union of the rules', () => {
    const backups = [
      at('2025-03-12T10:00:00Z', 'a'),
      at('2025-03-12T11:00:00Z', 'b'),
      at('2025-03-10T11:00:00Z', 'c'),
      at('2025-03-05T11:00:00Z', 'd'),
      at('2025-03-04T11:00:00Z', 'e'),
      at('2025-01-01T11:00:00Z', 'f'),
    ];
    expect(selectForDeletion(backups, { keepLast: 1, keepDaily: 3, keepWeekly: 2 }, now)).toEqual(['f', 'e', 'a']);
  });

  it('never deletes a backup dated after now', () => {
    expect(selectForDeletion([at('2025-03-13T00:00:00Z', 'future')], none, now)).toEqual([]);
  });

  it('breaks ties on time by id, so the choice is stable', () => {
    const backups = [at('2025-03-12T01:00:00Z', 'x'), at('2025-03-12T01:00:00Z', 'y')];
    expect(selectForDeletion(backups, { ...none, keepLast: 1 }, now)).toEqual(['x']);
    expect(selectForDeletion([...backups].reverse(), { ...none, keepLast: 1 }, now)).toEqual(['x']);
  });
});
