import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isCairnError } from '../errors.ts';
import { applyPolicy, parseDuration } from './forget.ts';
import type { SnapshotInfo } from './snapshot.ts';

// Local time decides days and weeks; this file runs in UTC so the expectations are plain.
process.env.TZ = 'UTC';

let n = 0;
function snap(time: string, extra: Partial<SnapshotInfo> = {}): SnapshotInfo {
  n++;
  return {
    version: 1,
    id: n.toString(16).padStart(64, '0'),
    time,
    host: 'h',
    username: 'u',
    paths: ['/data'],
    tags: [],
    tree: '00',
    programVersion: 'test',
    ...extra,
  };
}

function kept(snaps: SnapshotInfo[], policy: Parameters<typeof applyPolicy>[1]): string[] {
  return applyPolicy(snaps, policy)
    .flatMap((g) => g.decisions)
    .filter((d) => d.keep)
    .map((d) => d.snapshot.time)
    .sort();
}

describe('retention policy', () => {
  // 60 days of history: a snapshot at 02:00 every day, and another at 14:00 on even days.
  const history: SnapshotInfo[] = [];
  for (let d = 0; d < 60; d++) {
    const day = new Date(Date.UTC(2026, 0, 1 + d));
    const iso = day.toISOString().slice(0, 10);
    history.push(snap(`${iso}T02:00:00.000Z`));
    if (d % 2 === 0) history.push(snap(`${iso}T14:00:00.000Z`));
  }

  it('keep-daily 7 keep-weekly 4 keeps the newest of the last 7 days and of the last 4 ISO weeks', () => {
    // The newest day is 2026-03-01 (a Sunday). Days: Feb 23 .. Mar 1, each its newest snapshot.
    // Weeks (Monday first): W09 ends Mar 1 (newest: Mar 1, already kept), W08 ends Feb 22,
    // W07 ends Feb 15, W06 ends Feb 8: each its newest snapshot (14:00 on even days).
    const want = [
      '2026-02-08T14:00:00.000Z',
      '2026-02-15T02:00:00.000Z',
      '2026-02-22T14:00:00.000Z',
      '2026-02-23T02:00:00.000Z',
      '2026-02-24T14:00:00.000Z',
      '2026-02-25T02:00:00.000Z',
      '2026-02-26T14:00:00.000Z',
      '2026-02-27T02:00:00.000Z',
      '2026-02-28T14:00:00.000Z',
      '2026-03-01T02:00:00.000Z',
    ];
    assert.deepEqual(kept(history, { daily: 7, weekly: 4 }), want);
  });

  it('says why each snapshot is kept', () => {
    const [group] = applyPolicy(history, { last: 1, daily: 2 });
    const newest = group!.decisions[0]!;
    assert.deepEqual(newest.reasons, ['last 1/1', 'daily 1/2 (2026-03-01)']);
    assert.equal(group!.decisions.filter((d) => d.keep).length, 2);
  });

  it('keep-within counts back from the newest snapshot, not from now', () => {
    assert.deepEqual(kept(history, { within: parseDuration('36h') }), [
      '2026-02-28T02:00:00.000Z',
      '2026-02-28T14:00:00.000Z',
      '2026-03-01T02:00:00.000Z',
    ]);
  });

  it('keeps tagged snapshots, monthly and yearly buckets', () => {
    const tagged = [...history, snap('2025-06-01T00:00:00.000Z', { tags: ['pin'] })];
    assert.ok(kept(tagged, { tags: ['pin'] }).includes('2025-06-01T00:00:00.000Z'));
    assert.deepEqual(kept(tagged, { monthly: 3 }), [
      '2026-01-31T14:00:00.000Z',
      '2026-02-28T14:00:00.000Z',
      '2026-03-01T02:00:00.000Z',
    ]);
    assert.deepEqual(kept(tagged, { yearly: 5 }), ['2025-06-01T00:00:00.000Z', '2026-03-01T02:00:00.000Z']);
  });

  it('judges each host and set of paths on its own', () => {
    const mixed = [
      snap('2026-01-01T00:00:00.000Z', { host: 'a' }),
      snap('2026-01-02T00:00:00.000Z', { host: 'a' }),
      snap('2026-01-01T00:00:00.000Z', { host: 'b' }),
      snap('2026-01-03T00:00:00.000Z', { host: 'a', paths: ['/other'] }),
    ];
    const groups = applyPolicy(mixed, { last: 1 });
    assert.equal(groups.length, 3);
    assert.equal(groups.flatMap((g) => g.decisions).filter((d) => d.keep).length, 3);
    assert.equal(applyPolicy(mixed, { last: 1 }, ['host']).length, 2);
  });

  it('uses ISO weeks across a year boundary', () => {
    // 2021-01-03 is a Sunday in ISO week 2020-W53; 2021-01-04 starts 2021-W01.
    const s = [
      snap('2021-01-03T10:00:00.000Z'),
      snap('2021-01-04T10:00:00.000Z'),
      snap('2020-12-28T10:00:00.000Z'),
    ];
    const [g] = applyPolicy(s, { weekly: 3 });
    const reasons = g!.decisions.map((d) => d.reasons[0]);
    assert.deepEqual(reasons, ['weekly 1/3 (2021-W01)', 'weekly 2/3 (2020-W53)', undefined]);
  });

  it('parses durations and rejects bad ones', () => {
    assert.equal(parseDuration('1d12h'), 36 * 3600e3);
    assert.equal(parseDuration('2w'), 14 * 86400e3);
    assert.throws(
      () => parseDuration('7 days'),
      (e: unknown) => isCairnError(e, 'USAGE'),
    );
    assert.throws(
      () => parseDuration(''),
      (e: unknown) => isCairnError(e, 'USAGE'),
    );
  });
});
