import { describe, expect, it } from 'vitest';
import { assess, levelOf, type MeterRecord, type Reading } from './assess.js';

const JAN = '2025-01-01T00:00:00.000Z';
const FEB = '2025-02-01T00:00:00.000Z';

/** Feed readings in order; return every notice sent as `type` or `type:reason`. */
function run(readings: Reading[], threshold = 80): { notices: string[]; last: MeterRecord | undefined } {
  let record: MeterRecord | undefined;
  const notices: string[] = [];
  for (const reading of readings) {
    const result = assess(record, reading, threshold);
    record = result.record;
    notices.push(...result.notices.map((n) => (n.reason ? `${n.type}:${n.reason}` : n.type)));
  }
  return { notices, last: record };
}

const r = (used: number, limit = 100, window = JAN): Reading => ({ used, limit, window });

describe('levels', () => {
  it('ok below the threshold, warning from it, exceeded from 100 %', () => {
    expect(levelOf(79, 100, 80)).toBe('ok');
    expect(levelOf(80, 100, 80)).toBe('warning');
    expect(levelOf(99, 100, 80)).toBe('warning');
    expect(levelOf(100, 100, 80)).toBe('exceeded');
    expect(levelOf(250, 100, 80)).toBe('exceeded');
    expect(levelOf(0, 1, 80)).toBe('ok');
  });
});

describe('notices', () => {
  it('warns once while usage climbs through the warning band', () => {
    expect(run([r(10), r(80), r(85), r(90), r(99)]).notices).toEqual(['warning']);
  });

  it('sends exceeded once per window and meter, however far usage goes', () => {
    expect(run([r(50), r(85), r(100), r(120), r(500)]).notices).toEqual(['warning', 'exceeded']);
  });

  it('sends only exceeded when usage jumps past the whole warning band', () => {
    expect(run([r(10), r(150)]).notices).toEqual(['exceeded']);
  });

  it('clears when an override raises the limit, and warns again under the new limit', () => {
    const { notices, last } = run([r(100), r(100, 1_000), r(850, 1_000), r(1_000, 1_000)]);
    expect(notices).toEqual(['exceeded', 'cleared:limit-raised', 'warning', 'exceeded']);
    expect(last).toMatchObject({ level: 'exceeded', limit: 1_000 });
  });

  it('clears into a warning when the raised limit still leaves usage above the threshold', () => {
    expect(run([r(100), r(100, 110)]).notices).toEqual(['exceeded', 'cleared:limit-raised', 'warning']);
  });

  it('clears at a new month and counts its notices afresh', () => {
    expect(run([r(100), r(3, 100, FEB), r(90, 100, FEB), r(100, 100, FEB)]).notices).toEqual([
      'exceeded',
      'cleared:new-window',
      'warning',
      'exceeded',
    ]);
  });

  it('a gauge flapping around the threshold warns and clears once per window', () => {
    expect(run([r(81), r(79), r(82), r(78), r(83)]).notices).toEqual(['warning', 'cleared:usage-dropped']);
  });

  it('a meter that never reached the threshold never clears', () => {
    expect(run([r(10), r(20), r(5), r(30, 1_000)]).notices).toEqual([]);
  });

  it('numbers the notices of a window, so each has its own deterministic id', () => {
    let record: MeterRecord | undefined;
    const seqs: number[] = [];
    for (const reading of [r(85), r(100), r(100, 1_000)]) {
      const result = assess(record, reading, 80);
      record = result.record;
      seqs.push(...result.notices.map((n) => n.seq));
    }
    expect(seqs).toEqual([0, 1, 2]);
  });

  it('the same state and reading decide the same notices (a retry after a crash sends nothing new)', () => {
    const before = assess(undefined, r(85), 80).record;
    const first = assess(before, r(100), 80);
    const again = assess(before, r(100), 80);
    expect(again).toEqual(first);
    expect(assess(first.record, r(100), 80).notices).toEqual([]);
  });
});
