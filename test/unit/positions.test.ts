/**
 * The position view against the definition: after every creation and deletion, in random order,
 * and the flush that follows, each subscribed waiter's last report equals the number of waiters
 * ahead of it computed from the whole listing (holders not counted), and a waiter is told only
 * when its position fell (positions never rise). Changes between two flushes are reported once, as their end state.
 * The views here flush when the test says (their scheduler does nothing).
 */
import { createHook } from 'node:async_hooks';
import { describe, expect, it } from 'vitest';
import type { QueueEntry, Role } from '../../src/backends/contract.js';
import { type HeadRule, QueueView, type Subscription } from '../../src/recipes/positions.js';
import { until } from '../support/until.js';

const exclusive: HeadRule = { shared: () => false };
const readersShare: HeadRule = { shared: (role) => role === 'read' };

/** Waiters ahead of `index` by the definition: keys before it that are not admitted. */
function expectedPosition(rule: HeadRule, entries: readonly QueueEntry[], index: number): number | undefined {
  const firstExclusive = entries.findIndex((e) => !rule.shared(e.role));
  const admitted = firstExclusive < 0 ? entries.length : firstExclusive === 0 ? 1 : firstExclusive;
  return index < admitted ? undefined : index - admitted;
}

/** A view whose reports go out only when the test calls flush(). */
/**
 * Resets `view` to holder, a, b and mine, created at revisions from `first` on; subscribes mine and
 * flushes (its first report: 2). Returns mine's reports.
 */
function holderABMine(view: QueueView, first: bigint): number[] {
  view.reset(['holder', 'a', 'b', 'mine'].map((key, i) => ({ key, role: 'lock' as Role, revision: first + BigInt(i) })));
  const reports: number[] = [];
  view.subscribe('mine', (p) => reports.push(p));
  view.flush();
  return reports;
}

const manualView = (rule: HeadRule) => new QueueView(rule, { paced: () => {}, soon: () => {} });

/** A small deterministic random generator, so a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

function simulate(rule: HeadRule, roles: readonly Role[], seed: number): void {
  const next = random(seed);
  const view = manualView(rule);
  const entries: QueueEntry[] = [];
  const reports = new Map<string, number[]>();
  const unsubscribes = new Map<string, Subscription>();
  let counter = 0;
  let wrong: string | undefined;
  for (let step = 0; step < 600; step++) {
    const roll = next();
    if (roll < 0.5 || entries.length === 0) {
      const entry: QueueEntry = { key: `k${counter++}`, role: roles[Math.floor(next() * roles.length)] as Role };
      entries.push(entry);
      view.created(entry);
      // Half the keys are this coordinator's waiters; some subscribe before the view has their key.
      if (next() < 0.5) {
        const list: number[] = [];
        reports.set(entry.key, list);
        unsubscribes.set(entry.key, view.subscribe(entry.key, (p) => list.push(p)));
      }
    } else if (roll < 0.8) {
      // Mostly the head goes (a release); sometimes one in the middle (a timeout).
      const index = next() < 0.6 ? 0 : Math.floor(next() * entries.length);
      const [gone] = entries.splice(index, 1);
      view.deleted((gone as QueueEntry).key);
      unsubscribes.get((gone as QueueEntry).key)?.stop();
      reports.delete((gone as QueueEntry).key);
    } else {
      // A waiter gives up watching its position but stays in line.
      const subscribed = [...unsubscribes.keys()].filter((k) => reports.has(k));
      const key = subscribed[Math.floor(next() * subscribed.length)];
      if (key) {
        unsubscribes.get(key)?.stop();
        reports.delete(key);
      }
    }
    view.flush();
    // Compared by hand and asserted once: an expect() per waiter per step would be slow.
    entries.forEach((entry, index) => {
      const list = reports.get(entry.key);
      if (!list || wrong) return;
      const expected = expectedPosition(rule, entries, index);
      if (expected !== undefined && list.at(-1) !== expected) wrong = `seed ${seed} step ${step}: ${entry.key} at ${index} last reported ${list.at(-1)}, expected ${expected}`;
      if (list.some((p, i) => i > 0 && p >= (list[i - 1] as number))) wrong = `seed ${seed} step ${step}: ${entry.key} told a position that did not fall: ${list}`;
    });
  }
  expect(wrong).toBeUndefined();
}

describe('QueueView', () => {
  it('mutex: every report is the number of waiters ahead', () => {
    for (let seed = 1; seed <= 20; seed++) simulate(exclusive, ['lock'], seed);
  });

  it('read-write lock: readers ahead of the first writer hold together', () => {
    for (let seed = 1; seed <= 20; seed++) simulate(readersShare, ['read', 'read', 'write'], seed);
  });

  it('a key subscribed before the view has it is reported once it arrives', () => {
    const view = manualView(exclusive);
    const seen: number[] = [];
    view.subscribe('late', (p) => seen.push(p));
    view.reset([
      { key: 'a', role: 'lock' },
      { key: 'b', role: 'lock' },
      { key: 'late', role: 'lock' },
    ]);
    view.flush();
    expect(seen).toEqual([1]);
    view.deleted('a');
    view.flush();
    expect(seen).toEqual([1, 0]);
  });

  it('a deletion behind a waiter does not disturb it', () => {
    const view = manualView(exclusive);
    for (const key of ['a', 'b', 'c', 'd']) view.created({ key, role: 'lock' });
    const seen: number[] = [];
    view.subscribe('b', (p) => seen.push(p));
    view.flush();
    view.deleted('d');
    view.deleted('c');
    view.flush();
    expect(seen).toEqual([0]);
  });

  it('a name deleted and created again while the view was not following is a new key at the tail', () => {
    const view = manualView(exclusive);
    const reports: number[] = [];
    view.reset([
      { key: 'holder', role: 'lock', revision: 1n },
      { key: 'reused', role: 'lock', revision: 2n },
      { key: 'mine', role: 'lock', revision: 3n },
    ]);
    view.subscribe('mine', (p) => reports.push(p));
    view.flush();
    // Resynchronised after a gap in which `reused` was deleted and created again behind `mine`.
    view.reset([
      { key: 'holder', role: 'lock', revision: 1n },
      { key: 'mine', role: 'lock', revision: 3n },
      { key: 'reused', role: 'lock', revision: 5n },
    ]);
    view.flush();
    expect(reports).toEqual([1, 0]);
  });

  it('changes between two flushes are reported once, as their end state', () => {
    const view = manualView(exclusive);
    for (const key of ['holder', 'a', 'b', 'c', 'mine']) view.created({ key, role: 'lock' });
    const reports: number[] = [];
    view.subscribe('mine', (p) => reports.push(p));
    view.flush();
    // Three waiters ahead leave together (their session ended): one report, not 2 then 1 then 0.
    view.deleted('a');
    view.deleted('b');
    view.deleted('c');
    expect(reports).toEqual([3]);
    view.flush();
    expect(reports).toEqual([3, 0]);
    // A resynchronisation that drops keys ahead and adds some behind: one report too.
    view.created({ key: 'late', role: 'lock' });
    view.flush();
    expect(reports).toEqual([3, 0]);
  });

  it('the waiter next in line is told at once, without the paced flush; the others wait for it', () => {
    const view = manualView(exclusive);
    for (const key of ['holder', 'a', 'b', 'c']) view.created({ key, role: 'lock' });
    const b: number[] = [];
    const c: number[] = [];
    view.subscribe('b', (p) => b.push(p));
    view.subscribe('c', (p) => c.push(p));
    view.flush();
    view.deleted('holder');
    view.tellSoon();
    expect(b).toEqual([1, 0]);
    expect(c).toEqual([2]);
    view.flush();
    expect(c).toEqual([2, 1]);
  });

  it("a new waiter's first report is made at once, without the paced flush, however long the queue", () => {
    const view = manualView(exclusive);
    for (let i = 0; i < 1000; i++) view.created({ key: `k${i}`, role: 'lock' });
    const early: number[] = [];
    view.subscribe('k500', (p) => early.push(p));
    view.flush();
    const late: number[] = [];
    view.subscribe('k999', (p) => late.push(p));
    view.deleted('k0');
    view.tellSoon();
    // The newcomer hears where it stands now; the waiter already told waits for the flush.
    expect(late).toEqual([997]);
    expect(early).toEqual([499]);
    view.flush();
    expect(early).toEqual([499, 498]);
    expect(late).toEqual([997]);
  });

  it('reports nothing while the feed is behind a write the process saw confirmed, then its newest state', () => {
    const view = manualView(exclusive);
    for (const key of ['holder', 'a', 'b', 'mine']) view.created({ key, role: 'lock' });
    const reports: number[] = [];
    view.subscribe('mine', (p) => reports.push(p));
    view.flush();
    expect(reports).toEqual([2]);
    view.deleted('holder');
    // A's release was confirmed to this process; the feed has not shown it yet.
    view.behind();
    view.tellSoon();
    view.flush();
    expect(reports).toEqual([2]);
    view.deleted('a');
    view.caughtUp();
    view.tellSoon();
    expect(reports).toEqual([2, 0]);
    view.flush();
    expect(reports).toEqual([2, 0]);
  });

  it('reports nothing while the feed still shows a key this process saw confirmed gone', () => {
    const view = manualView(exclusive);
    const reports = holderABMine(view, 1n);
    view.deleted('a');
    // Another coordinator's release of the holder resolved; this feed has not shown it yet.
    view.confirmedGone('holder', 1n);
    // A key of that name created at another revision is another key: no hold for it.
    view.confirmedGone('mine', 9n);
    view.tellSoon();
    view.flush();
    expect(reports).toEqual([2]);
    view.deleted('holder');
    view.tellSoon();
    view.flush();
    expect(reports).toEqual([2, 0]);
  });

  it('a name created again after the view saw it deleted: its confirmed deletion still holds the reports', () => {
    const view = manualView(exclusive);
    view.created({ key: 'holder', role: 'lock', revision: 1n });
    view.deleted('holder');
    const reports = holderABMine(view, 5n);
    // The new holder's release resolved in another coordinator; this feed has not shown it yet.
    view.confirmedGone('holder', 5n);
    view.deleted('a');
    view.tellSoon();
    view.flush();
    expect(reports).toEqual([2]);
    view.deleted('holder');
    view.tellSoon();
    expect(reports).toEqual([2, 0]);
  });

  it('a paced flush that found the feed behind runs as soon as it has caught up, not a pace later', () => {
    const asked: string[] = [];
    const view = new QueueView(exclusive, { paced: () => asked.push('paced'), soon: () => {}, resumed: () => asked.push('resumed') });
    for (const key of ['holder', 'a', 'mine']) view.created({ key, role: 'lock' });
    const reports: number[] = [];
    view.subscribe('mine', (p) => reports.push(p));
    view.flush();
    view.deleted('holder');
    expect(asked).toEqual(['paced', 'paced']);
    view.behind();
    view.flush(); // its turn: skipped
    view.caughtUp();
    expect(asked).toEqual(['paced', 'paced', 'resumed']);
    view.flush();
    expect(reports).toEqual([1, 0]);
  });

  it('a waiter granted before a flush told it so still gets 0 as its last report', () => {
    const view = manualView(exclusive);
    for (const key of ['holder', 'a', 'mine']) view.created({ key, role: 'lock' });
    const reports: number[] = [];
    const stop = view.subscribe('mine', (p) => reports.push(p));
    view.flush();
    view.deleted('a');
    view.deleted('holder');
    stop.stop(true);
    view.flush();
    expect(reports).toEqual([1, 0]);
    // One that gives up is told nothing more.
    const other: number[] = [];
    view.created({ key: 'next', role: 'lock' });
    view.created({ key: 'last', role: 'lock' });
    const stopOther = view.subscribe('last', (p) => other.push(p));
    view.flush();
    view.deleted('next');
    stopOther.stop(false);
    view.flush();
    expect(other).toEqual([1]);
  });
});

describe('QueueView on its default schedule', () => {
  it('a handoff makes no async resource: the check of who is next in line and the flushes run in plain microtasks', async () => {
    // Node's queueMicrotask makes an async resource ('Microtask': an object, an id and a bound
    // function) per call; the check of who is next in line is asked for once per change, so with
    // it every handoff under waiters with positions made one. Counted by an async hook's init.
    const made = new Map<string, number>();
    const hook = createHook({
      init(_id, type) {
        made.set(type, (made.get(type) ?? 0) + 1);
      },
    });
    const view = new QueueView(exclusive);
    const waiters = 50;
    const last = new Map<string, number>();
    const stops: Subscription[] = [];
    view.created({ key: 'holder', role: 'lock' });
    for (let i = 0; i < waiters; i++) {
      const key = `w${i}`;
      view.created({ key, role: 'lock' });
      stops.push(view.subscribe(key, (p) => last.set(key, p)));
    }
    // Every waiter told where it stands before counting.
    await until(() => last.size === waiters);
    hook.enable();
    try {
      view.deleted('holder');
      for (let i = 0; i < waiters; i++) {
        // The next in line hears it is next before its grant, in a microtask of its own.
        await until(() => last.get(`w${i}`) === 0);
        stops[i]?.stop(true);
        view.deleted(`w${i}`);
      }
    } finally {
      hook.disable();
    }
    expect(made.get('Microtask') ?? 0).toBe(0);
  });
});
