/**
 * The conformance suite: one set of behaviours every backend adapter must show, run unchanged
 * against memory, etcd and ZooKeeper. A new adapter passes this suite or is not done.
 *
 * Waiting is observed through events (onQueued, signals, promises), never through sleeps.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { type Coordinator, LeaseLostError, LeaseReleasedError, type Lease } from '../../src/index.js';
import { backendOf } from '../../src/testing.js';
import { describeCoordination } from './coordination.js';
import { describeMultiLock } from './multi-lock.js';

/** What the suite needs from a backend under test. */
export interface ConformanceTarget {
  name: string;
  /** A new coordinator: its own connection and session. `ttl` in seconds, for loss tests. */
  connect(options?: { ttl?: number }): Promise<Coordinator>;
  /** Ends `coord`'s current session from the server side, as an expiry or revocation would. */
  expireSession(coord: Coordinator): Promise<void>;
  /** Deletes a key behind Baton's back, as an operator would. */
  deleteKey(key: string): Promise<void>;
}

/** Resolves when `onQueued` has been called with a position satisfying `test`. */
function queueWatch(test: (position: number) => boolean = () => true) {
  let resolve!: () => void;
  const reached = new Promise<void>((r) => (resolve = r));
  const positions: number[] = [];
  return {
    positions,
    reached,
    onQueued: (position: number) => {
      positions.push(position);
      if (test(position)) resolve();
    },
  };
}

/** Whether `promise` has settled by the time already-queued callbacks have run. */
async function isSettled(promise: Promise<unknown>): Promise<boolean> {
  const marker = Symbol('pending');
  const result = await Promise.race([promise.then(() => true, () => true), new Promise((r) => setImmediate(() => r(marker)))]);
  return result !== marker;
}

function aborted(signal: AbortSignal): Promise<unknown> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve(signal.reason);
    else signal.addEventListener('abort', () => resolve(signal.reason), { once: true });
  });
}

export function runConformance(target: ConformanceTarget): void {
  const opened: Coordinator[] = [];
  const open = async (options?: { ttl?: number }) => {
    const coord = await target.connect(options);
    opened.push(coord);
    return coord;
  };
  const unique = (label: string) => `conformance/${label}-${randomUUID().slice(0, 8)}`;
  const keysOf = async (coord: Coordinator, prefix: string) => (await backendOf(coord).list(prefix)).map((e) => e.key);

  afterAll(async () => {
    await Promise.all(opened.map((coord) => coord.close()));
  });

  describe(`conformance: ${target.name}`, () => {
    describeMultiLock({ open, expireSession: (coord) => target.expireSession(coord) });
    describeCoordination({ open });
    describe('mutex', () => {
      it('excludes across sessions: a read-yield-write counter loses no update', async () => {
        const name = unique('exclusion');
        const coords = await Promise.all([open(), open(), open(), open()]);
        let counter = 0;
        let inside = 0;
        let maxInside = 0;
        const rounds = 5;
        await Promise.all(
          coords.map(async (coord) => {
            for (let i = 0; i < rounds; i++) {
              await coord.mutex(name).withLock(async () => {
                inside++;
                maxInside = Math.max(maxInside, inside);
                const read = counter;
                await new Promise((r) => setImmediate(r));
                counter = read + 1;
                inside--;
              });
            }
          }),
        );
        expect(counter).toBe(coords.length * rounds);
        expect(maxInside).toBe(1);
      });

      it('grants in request order, across sessions and within one', async () => {
        const name = unique('fifo');
        const [a, b, c] = await Promise.all([open(), open(), open()]);
        const first = await a.mutex(name).acquire();
        const order: string[] = [];
        const waiters: Promise<void>[] = [];
        // Each waiter joins only after the previous one is visibly queued, so request order is known.
        for (const [label, coord] of [['b1', b], ['c1', c], ['b2', b], ['a2', a]] as const) {
          const queued = queueWatch();
          waiters.push(
            coord
              .mutex(name)
              .acquire({ onQueued: queued.onQueued })
              .then(async (lease) => {
                order.push(label);
                await lease.release();
              }),
          );
          await queued.reached;
        }
        await first.release();
        await Promise.all(waiters);
        expect(order).toEqual(['b1', 'c1', 'b2', 'a2']);
      });

      it('reports the number of waiters ahead, holders not counted, and updates it', async () => {
        const name = unique('position');
        const [a, b, c] = await Promise.all([open(), open(), open()]);
        const holder = await a.mutex(name).acquire();
        const bQueued = queueWatch();
        const bController = new AbortController();
        const bLease = b.mutex(name).acquire({ onQueued: bQueued.onQueued, signal: bController.signal });
        await bQueued.reached;
        let cQueued!: () => void;
        const cIsQueued = new Promise<void>((resolve) => (cQueued = resolve));
        const cNext = queueWatch((p) => p === 0);
        const cLease = c.mutex(name).acquire({
          onQueued: (position) => {
            cNext.onQueued(position);
            cQueued();
          },
        });
        await cIsQueued;
        // The waiter ahead of c leaves the queue: c moves up to next in line.
        bController.abort();
        await expect(bLease).rejects.toMatchObject({ name: 'AbortError' });
        await cNext.reached;
        expect(bQueued.positions).toEqual([0]);
        expect(cNext.positions).toEqual([1, 0]);
        await holder.release();
        await (await cLease).release();
      });

      it('gives strictly increasing tokens to successive holders', async () => {
        const name = unique('tokens');
        const coords = await Promise.all([open(), open(), open()]);
        const tokens: bigint[] = [];
        for (let i = 0; i < 6; i++) {
          const coord = coords[i % coords.length] as Coordinator;
          const lease = await coord.mutex(name).acquire();
          expect(typeof lease.token).toBe('bigint');
          tokens.push(lease.token);
          await lease.release();
        }
        for (let i = 1; i < tokens.length; i++) expect(tokens[i]! > tokens[i - 1]!).toBe(true);
      });

      it('tryAcquire takes a free lock and leaves no key behind when it is held', async () => {
        const name = unique('try');
        const [a, b] = await Promise.all([open(), open()]);
        const lease = await a.mutex(name).tryAcquire();
        expect(lease).toBeDefined();
        expect(await b.mutex(name).tryAcquire()).toBeUndefined();
        expect(await keysOf(b, name)).toEqual([lease!.key]);
        await lease!.release();
        const again = await b.mutex(name).tryAcquire();
        expect(again).toBeDefined();
        await again!.release();
      });

      it('times out with a TimeoutError and leaves no key behind', async () => {
        const name = unique('timeout');
        const [a, b] = await Promise.all([open(), open()]);
        const holder = await a.mutex(name).acquire();
        const error = await b.mutex(name).acquire({ timeoutMs: 200 }).catch((e: unknown) => e);
        expect((error as Error).name).toBe('TimeoutError');
        expect(await keysOf(a, name)).toEqual([holder.key]);
        await holder.release();
      });

      it('aborts with an AbortError, before or while waiting, and leaves no key behind', async () => {
        const name = unique('abort');
        const [a, b] = await Promise.all([open(), open()]);
        const holder = await a.mutex(name).acquire();
        const controller = new AbortController();
        const queued = queueWatch();
        const waiting = b.mutex(name).acquire({ signal: controller.signal, onQueued: queued.onQueued });
        await queued.reached;
        controller.abort();
        const error = await waiting.catch((e: unknown) => e);
        expect((error as Error).name).toBe('AbortError');
        const early = await b.mutex(name).acquire({ signal: AbortSignal.abort() }).catch((e: unknown) => e);
        expect((early as Error).name).toBe('AbortError');
        expect(await keysOf(a, name)).toEqual([holder.key]);
        await holder.release();
        expect(await keysOf(a, name)).toEqual([]);
      });

      it('release is idempotent, ends the signal as released, and lets the next holder in', async () => {
        const name = unique('release');
        const [a, b] = await Promise.all([open(), open()]);
        const lease = await a.mutex(name).acquire();
        const queued = queueWatch();
        const next = b.mutex(name).acquire({ onQueued: queued.onQueued });
        await queued.reached;
        await Promise.all([lease.release(), lease.release()]);
        await lease.release();
        expect(lease.signal.aborted).toBe(true);
        expect(lease.signal.reason).toBeInstanceOf(LeaseReleasedError);
        const nextLease = await next;
        expect(nextLease.token > lease.token).toBe(true);
        await nextLease.release();
      });

      it('withLock releases after the function throws', async () => {
        const name = unique('withlock');
        const coord = await open();
        let held: Lease | undefined;
        await expect(
          coord.mutex(name).withLock((lease) => {
            held = lease;
            throw new Error('boom');
          }),
        ).rejects.toThrow('boom');
        expect(held?.signal.aborted).toBe(true);
        expect(await keysOf(coord, name)).toEqual([]);
      });

      it('signals loss when the session expires, and a waiter takes over with a higher token', async () => {
        const name = unique('expire');
        const [a, b] = await Promise.all([open(), open()]);
        const lease = await a.mutex(name).acquire();
        const queued = queueWatch();
        const waiter = b.mutex(name).acquire({ onQueued: queued.onQueued });
        await queued.reached;
        await target.expireSession(a);
        expect(await aborted(lease.signal)).toBeInstanceOf(LeaseLostError);
        const successor = await waiter;
        expect(successor.token > lease.token).toBe(true);
        await lease.release(); // releasing a lost hold is harmless
        expect(await keysOf(b, name)).toEqual([successor.key]);
        await successor.release();
        // The coordinator outlives its lost session: it can hold again.
        const again = await a.mutex(name).acquire({ timeoutMs: 10_000 });
        expect(again.signal.aborted).toBe(false);
        await again.release();
      });

      it('signals loss when its own key is deleted by someone else', async () => {
        const name = unique('deleted');
        const coord = await open();
        const lease = await coord.mutex(name).acquire();
        await target.deleteKey(lease.key);
        expect(await aborted(lease.signal)).toBeInstanceOf(LeaseLostError);
      });

      it('commits a guarded write only while the hold is valid', async () => {
        const name = unique('guarded');
        const [a, b] = await Promise.all([open(), open()]);
        const lease = await a.mutex(name).acquire();
        const dataKey = await guardedTarget(b, name);
        expect(await lease.guardedWrite([{ put: dataKey, value: 'first' }])).toBe(true);
        expect((await backendOf(b).get(dataKey))?.value).toBe('first');
        await target.deleteKey(lease.key);
        await aborted(lease.signal);
        expect(await lease.guardedWrite([{ put: dataKey, value: 'stale' }])).toBe(false);
        expect((await backendOf(b).get(dataKey))?.value).toBe('first');
        const successor = await b.mutex(name).acquire();
        expect(await successor.guardedWrite([{ delete: dataKey }])).toBe(true);
        expect(await backendOf(b).get(dataKey)).toBeUndefined();
        await successor.release();
      });
    });

    describe('semaphore', () => {
      it('admits N at once and never more than N', async () => {
        const name = unique('sem');
        const coords = await Promise.all([open(), open(), open()]);
        const permits = 2;
        const first = await Promise.all([coords[0]!, coords[1]!].map((c) => c.semaphore(name, { permits }).acquire()));
        expect(first).toHaveLength(2);
        await Promise.all(first.map((lease) => lease.release()));
        // Each holder stays inside until the semaphore is full (or everyone has entered), so a
        // semaphore that admitted fewer than N at once would hang here and time out.
        const total = coords.length * 2;
        let inside = 0;
        let maxInside = 0;
        let entered = 0;
        let parked: (() => void)[] = [];
        const full = () => inside === permits || entered === total;
        await Promise.all(
          coords.flatMap((coord) =>
            [0, 1].map(async () => {
              const lease = await coord.semaphore(name, { permits }).acquire();
              inside++;
              entered++;
              maxInside = Math.max(maxInside, inside);
              if (full()) {
                for (const wake of parked) wake();
                parked = [];
              } else {
                await new Promise<void>((resolve) => parked.push(resolve));
              }
              inside--;
              await lease.release();
            }),
          ),
        );
        expect(maxInside).toBeLessThanOrEqual(permits);
        expect(maxInside).toBe(permits);
      });

      it('serves waiters in request order and tryAcquire refuses when full', async () => {
        const name = unique('semfifo');
        const [a, b, c] = await Promise.all([open(), open(), open()]);
        const permits = 2;
        const held = [await a.semaphore(name, { permits }).acquire(), await a.semaphore(name, { permits }).acquire()];
        expect(await b.semaphore(name, { permits }).tryAcquire()).toBeUndefined();
        const order: string[] = [];
        const waiters: Promise<Lease>[] = [];
        for (const [label, coord] of [['b', b], ['c', c], ['a', a]] as const) {
          const queued = queueWatch();
          waiters.push(
            coord
              .semaphore(name, { permits })
              .acquire({ onQueued: queued.onQueued })
              .then((lease) => {
                order.push(label);
                return lease;
              }),
          );
          await queued.reached;
        }
        await held[0]!.release();
        const bLease = await waiters[0]!;
        expect(order).toEqual(['b']);
        await held[1]!.release();
        await bLease.release();
        await Promise.all((await Promise.all(waiters.slice(1))).map((lease) => lease.release()));
        expect(order).toEqual(['b', 'c', 'a']);
      });

      it('times out while waiting for a permit and leaves no key behind', async () => {
        const name = unique('semtimeout');
        const [a, b] = await Promise.all([open(), open()]);
        const lease = await a.semaphore(name, { permits: 1 }).acquire();
        const error = await b.semaphore(name, { permits: 1 }).acquire({ timeoutMs: 200 }).catch((e: unknown) => e);
        expect((error as Error).name).toBe('TimeoutError');
        expect(await keysOf(a, `${name}/leases`)).toEqual([lease.key]);
        expect(await keysOf(a, `${name}/locks`)).toEqual([]);
        await lease.release();
      });
    });

    describe('read-write lock', () => {
      it('lets readers share and makes a writer wait for them', async () => {
        const name = unique('rw');
        const [a, b, c] = await Promise.all([open(), open(), open()]);
        const r1 = await a.readWriteLock(name).read();
        const r2 = await b.readWriteLock(name).read();
        const queued = queueWatch();
        const writer = c.readWriteLock(name).write({ onQueued: queued.onQueued });
        await queued.reached;
        expect(queued.positions).toEqual([0]);
        await r1.release();
        expect(await isSettled(writer)).toBe(false);
        await r2.release();
        const w = await writer;
        expect(w.token > r2.token).toBe(true);
        await w.release();
      });

      it('holds back readers that come after a waiting writer', async () => {
        const name = unique('rwfair');
        const [a, b, c] = await Promise.all([open(), open(), open()]);
        const reader = await a.readWriteLock(name).read();
        const order: string[] = [];
        const writerQueued = queueWatch();
        const writer = b
          .readWriteLock(name)
          .write({ onQueued: writerQueued.onQueued })
          .then((lease) => (order.push('writer'), lease));
        await writerQueued.reached;
        const lateQueued = queueWatch();
        const lateReader = c
          .readWriteLock(name)
          .read({ onQueued: lateQueued.onQueued })
          .then((lease) => (order.push('late reader'), lease));
        await lateQueued.reached;
        expect(lateQueued.positions).toEqual([1]);
        await reader.release();
        const w = await writer;
        expect(await isSettled(lateReader)).toBe(false);
        await w.release();
        await (await lateReader).release();
        expect(order).toEqual(['writer', 'late reader']);
      });

      it('makes readers wait for a writer that holds', async () => {
        const name = unique('rwwrite');
        const [a, b] = await Promise.all([open(), open()]);
        const w = await a.readWriteLock(name).write();
        expect(await b.readWriteLock(name).tryRead()).toBeUndefined();
        const queued = queueWatch();
        const reader = b.readWriteLock(name).read({ onQueued: queued.onQueued });
        await queued.reached;
        await w.release();
        const r = await reader;
        expect(r.token > w.token).toBe(true);
        await r.release();
      });
    });

    describe('election', () => {
      it('reports the leader, queues a second campaigner, and hands over on resign', async () => {
        const name = unique('elect');
        const [a, b] = await Promise.all([open(), open()]);
        expect(await a.election(name).leader()).toBeUndefined();
        const first = await a.election(name).campaign('alpha');
        expect(await b.election(name).leader()).toEqual({ key: first.key, value: 'alpha', token: first.token });
        const queued = queueWatch();
        const second = b.election(name).campaign('beta', { onQueued: queued.onQueued });
        await queued.reached;
        await first.resign();
        const leader = await second;
        expect(leader.token > first.token).toBe(true);
        expect(await a.election(name).leader()).toEqual({ key: leader.key, value: 'beta', token: leader.token });
        await leader.resign();
        expect(await a.election(name).leader()).toBeUndefined();
      });

      it('observe yields the leader, proclamations, a new leader and no leader', async () => {
        const name = unique('observe');
        const [a, b, watcher] = await Promise.all([open(), open(), open()]);
        const controller = new AbortController();
        const seen: (string | undefined)[] = [];
        let step!: () => void;
        let stepReached = new Promise<void>((r) => (step = r));
        const observing = (async () => {
          for await (const leader of watcher.election(name).observe({ signal: controller.signal })) {
            seen.push(leader?.value);
            step();
          }
        })();
        const next = async () => {
          await stepReached;
          stepReached = new Promise<void>((r) => (step = r));
        };
        await next(); // no leader yet
        const first = await a.election(name).campaign('one');
        await next();
        const queued = queueWatch();
        const second = b.election(name).campaign('two', { onQueued: queued.onQueued });
        await queued.reached;
        await first.proclaim('one, updated');
        await next();
        expect(first.value).toBe('one, updated');
        await first.resign();
        await next();
        const leader = await second;
        await leader.resign();
        await next();
        controller.abort();
        await observing;
        expect(seen).toEqual([undefined, 'one', 'one, updated', 'two', undefined]);
      });

      it('signals loss of leadership when the session expires, and proclaim then fails', async () => {
        const name = unique('electloss');
        const [a, b] = await Promise.all([open(), open()]);
        const leadership = await a.election(name).campaign('doomed');
        const queued = queueWatch();
        const successor = b.election(name).campaign('next', { onQueued: queued.onQueued });
        await queued.reached;
        await target.expireSession(a);
        expect(await aborted(leadership.signal)).toBeInstanceOf(LeaseLostError);
        await expect(leadership.proclaim('still here?')).rejects.toBeInstanceOf(LeaseLostError);
        const next = await successor;
        expect((await a.election(name).leader())?.value).toBe('next');
        await next.resign();
      });
    });
  });

  /** A key for guarded writes, in the backend's own key space next to the lock (not under it). */
  async function guardedTarget(coord: Coordinator, name: string): Promise<string> {
    const probe = await coord.mutex(`${name}-data`).acquire();
    // The probe's key shows how this backend spells keys; its parent is a writable place.
    const parent = probe.key.slice(0, probe.key.lastIndexOf('/'));
    await probe.release();
    return `${parent}-fenced-value`;
  }
}
