/**
 * The history checker on crafted histories: each check must pass on a correct history and fail
 * on one that breaks exactly its promise. (The fault suite itself runs with `npm run test:faults`.)
 */
import { describe, expect, it } from 'vitest';
import { checkHistory } from './checker.js';
import type { ClientEvent, History, Meta, NemesisEvent } from './history.js';
import type { ResourceEntry } from './resource.js';

const MS = 1_000_000n;
const T0 = 10_000_000_000n;
const at = (ms: number) => (T0 + BigInt(Math.round(ms * 1000)) * (MS / 1000n)).toString();

type Step = [ms: number, c: number, ev: string, fields?: Record<string, unknown>];

/** A client's full turn: invoke at `from`, granted 1 ms later with `token`, released at `to`. */
function turn(c: number, token: number, from: number, to: number): Step[] {
  return [
    [from, c, 'invoke', { mode: 'exclusive' }],
    [from + 1, c, 'acquired', { mode: 'exclusive', token: String(token), key: `k${token}` }],
    [to, c, 'release-invoke', { token: String(token) }],
    [to + 2, c, 'released', { token: String(token) }],
  ];
}

function history(steps: Step[], extra: { meta?: Partial<Meta>; nemesis?: Array<[number, string, number?]>; resource?: ResourceEntry[]; counter?: [number, number] } = {}): History {
  const clients: ClientEvent[][] = [[], []];
  for (const [ms, c, ev, fields] of [...steps].sort((a, b) => a[0] - b[0])) (clients[c] ??= []).push({ t: at(ms), c, ev, ...fields });
  const nemesis: NemesisEvent[] = (extra.nemesis ?? []).map(([ms, ev, c]) => ({ t: at(ms), ev, c }));
  return {
    meta: {
      scenario: 'crafted',
      backend: 'none',
      recipe: 'mutex',
      permits: 1,
      fenced: true,
      guarded: false,
      clients: clients.length,
      ttlMs: 2000,
      timeoutMs: 3000,
      expectViolation: false,
      t0: T0.toString(),
      machine: 'test',
      ...extra.meta,
    },
    clients,
    nemesis,
    resource: extra.resource ?? [],
    final: {
      counter: extra.counter?.[0] ?? 0,
      acceptedWrites: extra.counter?.[1] ?? 0,
      leftover: [],
      counterKeys: [],
      clientExits: clients.map((_, c) => ({ c, code: 0, signal: null, killed: false, t: at(20_000) })),
      t: at(20_000),
    },
  };
}

const failed = (h: History) => checkHistory(h).checks.filter((c) => !c.ok).map((c) => c.name);

describe('fault history checker', () => {
  it('passes a history of clean handoffs', () => {
    const report = checkHistory(history([...turn(0, 5, 0, 100), ...turn(1, 6, 150, 300), ...turn(0, 7, 350, 400)]));
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.figures.acquisitions).toBe(3);
  });

  it('reports two holders at once', () => {
    expect(failed(history([...turn(0, 5, 0, 300), ...turn(1, 6, 100, 400)]))).toEqual(['exclusion']);
  });

  it('excuses a paused holder that notices its loss within 1 s of resuming, and only then', () => {
    const paused = (lostAt: number) =>
      history(
        [
          [0, 0, 'invoke', { mode: 'exclusive' }],
          [1, 0, 'acquired', { mode: 'exclusive', token: '5', key: 'k5' }],
          [lostAt, 0, 'lost', { reason: { name: 'LeaseLostError' } }],
          [lostAt + 1, 0, 'release-invoke'],
          [lostAt + 2, 0, 'released'],
          ...turn(1, 6, 2500, 2700),
        ],
        { nemesis: [[10, 'pause-client', 0], [3500, 'resume-client', 0], [3500, 'healed']] },
      );
    expect(failed(paused(3600))).toEqual(['progress']); // client 0 never acquires after the heal
    expect(failed(paused(4800))).toEqual(['exclusion', 'loss-before-handoff', 'progress']);
  });

  it('reports a loss signalled after the lock went to another client', () => {
    const steps: Step[] = [[0, 0, 'invoke'], [1, 0, 'acquired', { mode: 'exclusive', token: '5', key: 'k5' }], [900, 0, 'lost'], ...turn(1, 6, 500, 1000)];
    expect(failed(history(steps))).toEqual(['exclusion', 'loss-before-handoff']);
  });

  it('reports tokens that do not increase, and a token held twice', () => {
    expect(failed(history([...turn(0, 7, 0, 100), ...turn(1, 6, 200, 300)]))).toEqual(['token-order']);
    expect(failed(history([...turn(0, 7, 0, 100), ...turn(1, 7, 200, 300)]))).toEqual(['token-order', 'token-unique']);
  });

  it('reports a resource that accepted a lower token, and a lost update', () => {
    const entry = (ms: number, token: string, highest: string | undefined): ResourceEntry => ({ t: at(ms), op: 'write', c: 0, token, value: 1, accepted: true, highest });
    const resource = [entry(10, '6', undefined), entry(20, '5', '6')];
    expect(failed(history(turn(0, 6, 0, 100), { resource, counter: [1, 2] }))).toEqual(['resource-monotonic', 'resource-counter']);
  });

  it('reports an acquire that outlives its timeout, not one within the slack', () => {
    const slow = (ms: number): Step[] => [[0, 0, 'invoke'], [ms, 0, 'acquire-failed', { error: { name: 'TimeoutError', message: 'x', baton: true } }], ...turn(0, 5, ms + 10, ms + 50), ...turn(1, 6, ms + 60, ms + 90)];
    expect(failed(history(slow(3200)))).toEqual([]);
    expect(failed(history(slow(3400)))).toEqual(['acquire-bounded']);
  });

  it('excuses only the time a client did not run after its deadline, and a pause and a stall of the same moment once', () => {
    const granted = (ms: number, lagMs: number): Step[] => [[0, 0, 'invoke'], [ms, 0, 'acquired', { mode: 'exclusive', token: '5', key: 'k5', lagMs }], [ms + 10, 0, 'release-invoke'], [ms + 12, 0, 'released'], ...turn(0, 7, ms + 20, ms + 30), ...turn(1, 8, ms + 40, ms + 50)];
    // Not scheduled for 500 ms after its deadline, granted when it ran again: excused.
    expect(failed(history(granted(3566, 500)))).toEqual([]);
    expect(failed(history(granted(3566, 0)))).toEqual(['acquire-bounded']);
    // Frozen from 2500 to 3500 (its meter saw the 500 ms after the deadline), then 1 s more
    // running past its deadline: a pause is not excused twice, nor before the deadline.
    const frozen = { nemesis: [[2500, 'pause-client', 0], [3500, 'resume-client', 0], [3500, 'healed']] as Array<[number, string, number]> };
    expect(failed(history(granted(4500, 500), frozen))).toEqual(['acquire-bounded']);
    expect(failed(history(granted(3700, 500), frozen))).toEqual([]);
  });

  it('counts semaphore holders against the permits', () => {
    const three = [...turn(0, 5, 0, 300), ...turn(1, 6, 10, 300), ...turn(2, 7, 20, 300)];
    expect(failed(history(three, { meta: { recipe: 'semaphore', permits: 3 } }))).toEqual([]);
    expect(failed(history(three, { meta: { recipe: 'semaphore', permits: 2 } }))).toEqual(['semaphore-capacity']);
  });

  it('passes a negative control only when it finds the stale write it provokes', () => {
    const control = { expectViolation: true, fenced: false };
    const stale: ResourceEntry = { t: at(20), op: 'write', c: 0, token: '5', value: 1, accepted: true, highest: '6' };
    expect(checkHistory(history([...turn(0, 5, 0, 100), ...turn(1, 6, 150, 300)], { meta: control })).ok).toBe(false);
    expect(checkHistory(history([...turn(0, 5, 0, 300), ...turn(1, 6, 100, 400)], { meta: control })).ok).toBe(false);
    expect(checkHistory(history([...turn(0, 5, 0, 100), ...turn(1, 6, 150, 300)], { meta: control, resource: [stale] })).ok).toBe(true);
  });

  it('reports a non-Baton error and keys left behind', () => {
    const h = history([...turn(0, 5, 0, 100), [150, 0, 'release-failed', { error: { name: 'Error', message: 'CONNECTION_LOSS', baton: false } }], ...turn(1, 6, 200, 300)]);
    h.final.leftover = [{ key: 'faults/x/abc', revision: '9', value: '', owned: true }];
    expect(failed(h)).toEqual(['no-leftover-keys', 'clean-errors']);
  });
});
