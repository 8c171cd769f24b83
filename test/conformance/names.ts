/**
 * Conformance of name use: one name serves one recipe kind, and every client of one semaphore
 * counts the same permits. The newcomer is refused with a NameConflictError naming both sides;
 * whoever was there first keeps its hold, and no key of the refused call is left in the queue.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type Coordinator, InvalidArgumentError, NameConflictError, TimeoutError } from '../../src/index.js';
import { backendOf } from '../../src/testing.js';

interface Target {
  open(): Promise<Coordinator>;
}

/** Rejects with a NameConflictError whose message matches every pattern. */
async function refused(call: Promise<unknown>, ...patterns: RegExp[]): Promise<NameConflictError> {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(NameConflictError);
  const conflict = error as NameConflictError;
  expect(conflict.code).toBe('NAME_CONFLICT');
  for (const pattern of patterns) expect(conflict.message).toMatch(pattern);
  return conflict;
}

export function describeNames(target: Target): void {
  const unique = (label: string) => `conformance/names/${label}-${randomUUID().slice(0, 8)}`;
  const keys = async (coord: Coordinator, prefix: string) => (await backendOf(coord).list(prefix)).map((entry) => entry.key);

  describe('one name, one recipe kind', () => {
    it('an election on a name a mutex holds is refused, and the mutex keeps its queue', async () => {
      const [a, b] = await Promise.all([target.open(), target.open()]);
      const name = unique('mutex-then-election');
      const lock = await a.mutex(name).acquire();
      await refused(b.election(name).campaign('candidate', { timeoutMs: 5_000 }), /in use by a mutex/, /asked for an election/);
      await refused(b.election(name).leader(), /in use by a mutex/);
      // Nothing of the refused campaign is left: the queue is the mutex's holder alone.
      expect(await keys(b, name)).toEqual([lock.key]);
      expect(lock.signal.aborted).toBe(false);
      await lock.release();
      const again = await b.mutex(name).tryAcquire();
      expect(again).toBeDefined();
      await again?.release();
    });

    it('a mutex on a name an election uses is refused', async () => {
      const [a, b] = await Promise.all([target.open(), target.open()]);
      const name = unique('election-then-mutex');
      const leadership = await a.election(name).campaign('leader');
      await refused(b.mutex(name).acquire({ timeoutMs: 5_000 }), /in use by an election/, /asked for a mutex/);
      await refused(b.mutex(name).tryAcquire(), /in use by an election/);
      expect(await keys(b, name)).toEqual([leadership.key]);
      expect((await b.election(name).leader())?.value).toBe('leader');
      await leadership.resign();
    });

    it('a read lock on a name a mutex holds is refused, and a mutex on a read-write lock too', async () => {
      const [a, b] = await Promise.all([target.open(), target.open()]);
      const shared = unique('mutex-then-read');
      const lock = await a.mutex(shared).acquire();
      await refused(b.readWriteLock(shared).read({ timeoutMs: 5_000 }), /in use by a mutex/, /asked for a read-write lock/);
      await refused(b.readWriteLock(shared).tryWrite(), /in use by a mutex/);
      expect(await keys(b, shared)).toEqual([lock.key]);
      await lock.release();

      const rw = unique('read-then-mutex');
      const reader = await a.readWriteLock(rw).read();
      await refused(b.mutex(rw).acquire({ timeoutMs: 5_000 }), /in use by a read-write lock/, /asked for a mutex/);
      expect(await keys(b, rw)).toEqual([reader.key]);
      await reader.release();
    });

    it("names ending in /locks or /leases (a semaphore's gate and permits) are refused at once, by every recipe that queues under its name", async () => {
      const [a, b] = await Promise.all([target.open(), target.open()]);
      const pool = unique('pool');
      const permit = await a.semaphore(pool, { permits: 1 }).acquire();
      // Before, mutex('pool/locks') queued with the semaphore's gate, and neither could tell the other's keys.
      for (const last of ['locks', 'leases']) {
        const name = `${pool}/${last}`;
        for (const make of [
          () => b.mutex(name),
          () => b.election(name),
          () => b.readWriteLock(name),
          () => b.semaphore(name, { permits: 2 }),
        ]) {
          expect(make).toThrow(InvalidArgumentError);
          expect(make).toThrow(new RegExp(`semaphore "${pool}"'s ${last === 'locks' ? 'gate' : 'permit'} queue`));
        }
        await expect((async () => b.multiLock([{ mutex: name }]).acquire({ timeoutMs: 1000 }))()).rejects.toThrow(InvalidArgumentError);
      }
      expect(await keys(b, `${pool}/leases`)).toEqual([permit.key]);
      expect(await keys(b, `${pool}/locks`)).toEqual([]);
      // A double barrier's members queue under .baton/<name>/.members, so such a name takes
      // nothing of the semaphore's: its member is in, and the gate and permits are as they were.
      const barrier = b.doubleBarrier(`${pool}/locks`, { members: 1 });
      await barrier.enter({ timeoutMs: 10_000 });
      expect((await barrier.status()).members).toHaveLength(1);
      expect(await keys(b, `${pool}/locks`)).toEqual([]);
      expect(await keys(b, `${pool}/leases`)).toEqual([permit.key]);
      await barrier.leave({ timeoutMs: 10_000 });
      await permit.release();
      // Closed now, not at the end of the file: a PostgreSQL server's connections are counted.
      await Promise.all([a.close(), b.close()]);
    });
  });

  describe('names under names', () => {
    it("a guarded write's key under a name is no member of its queue: the next holder is granted, positions and status ignore it", async () => {
      const [a, b] = await Promise.all([target.open(), target.open()]);
      const name = unique('data-under-name');
      const lock = await a.mutex(name).acquire();
      expect(await lock.guardedWrite([{ put: `${name}/state`, value: 'v1' }])).toBe(true);
      expect(await keys(b, name)).toEqual([lock.key]);
      let queued: (position: number) => void = () => {};
      const position = new Promise<number>((resolve) => (queued = resolve));
      const waiting = b.mutex(name).acquire({ timeoutMs: 10_000, onQueued: (p) => queued(p) });
      expect(await position).toBe(0);
      expect((await a.mutex(name).status()).holders.map((holder) => holder.key)).toEqual([lock.key]);
      await lock.release();
      // Before, the plain key sat in the queue like a contender no one would ever release.
      const next = await waiting;
      expect((await b.mutex(name).status()).holders.map((holder) => holder.key)).toEqual([next.key]);
      expect(await a.readKey(`${name}/state`)).toBe('v1');
      await next.release();
      // Nor is an election: the data under the name is not taken for another kind's key.
      const leader = await a.election(name).campaign('one', { timeoutMs: 10_000 });
      expect((await b.election(name).leader())?.value).toBe('one');
      await leader.resign();
      await Promise.all([a.close(), b.close()]);
    });

    it('a name nested under another neither blocks nor is blocked by it', async () => {
      const [a, b] = await Promise.all([target.open(), target.open()]);
      const outer = unique('outer');
      const inner = `${outer}/inner`;
      const held = await a.mutex(inner).acquire();
      const outerLock = await b.mutex(outer).acquire({ timeoutMs: 10_000 });
      expect((await a.mutex(outer).status()).holders.map((holder) => holder.key)).toEqual([outerLock.key]);
      await outerLock.release();
      const leader = await b.election(outer).campaign('outer-leader', { timeoutMs: 10_000 });
      expect((await a.election(outer).leader())?.value).toBe('outer-leader');
      await leader.resign();
      await held.release();
      await Promise.all([a.close(), b.close()]);
    });
  });

  describe('semaphore permits', () => {
    it('a client asking other permits than the holders count is refused; capacity stays as the holders count it', async () => {
      const [a, b, c] = await Promise.all([target.open(), target.open(), target.open()]);
      const name = unique('permits');
      const one = await a.semaphore(name, { permits: 1 }).acquire();
      // Before the check, these two took permits 2 and 3 of "3": three holders of a 1-permit semaphore.
      await refused(b.semaphore(name, { permits: 3 }).acquire({ timeoutMs: 5_000 }), /in use with 1 permit\b/, /asked with 3/);
      await refused(c.semaphore(name, { permits: 3 }).tryAcquire(), /in use with 1 permit\b/, /asked with 3/);
      expect(await keys(b, `${name}/leases`)).toEqual([one.key]);
      expect(await keys(b, `${name}/locks`)).toEqual([]);
      // A client that agrees waits for the one permit, as it should.
      await expect(c.semaphore(name, { permits: 1 }).acquire({ timeoutMs: 300 })).rejects.toBeInstanceOf(TimeoutError);
      await one.release();
      // Nobody holds any more: the name is free for another count.
      const three = await b.semaphore(name, { permits: 3 }).acquire({ timeoutMs: 5_000 });
      await refused(a.semaphore(name, { permits: 2 }).acquire({ timeoutMs: 5_000 }), /in use with 3 permits/, /asked with 2/);
      await three.release();
    });
  });
}
