/**
 * Conformance of the versioned value and the barriers, run by the suite on every backend.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConflictError, type Coordinator, InvalidArgumentError, TimeoutError } from '../../src/index.js';
import { membersPrefix } from '../../src/recipes/plain-keys.js';
import { backendOf } from '../../src/testing.js';

export interface CoordinationTarget {
  open(options?: { ttl?: number }): Promise<Coordinator>;
  /**
   * Whether a barrier is the very key a guarded write of its name writes (ZooKeeper: both are the
   * node `<chroot>/<name>`, kazoo's and Curator's barrier node; README, guarantees and limits).
   */
  barrierIsGuardedKey?: boolean;
}

/** Whether `promise` is still pending after the backend answered one more request. */
async function stillPending(promise: Promise<unknown>, coord: Coordinator): Promise<boolean> {
  let settled = false;
  void promise.then(() => (settled = true), () => (settled = true));
  await backendOf(coord).list('conformance/probe');
  await new Promise((resolve) => setImmediate(resolve));
  return !settled;
}

export function describeCoordination(target: CoordinationTarget): void {
  describe('coordination recipes', () => describeRecipes(target));
}

function describeRecipes(target: CoordinationTarget): void {
  const unique = (label: string) => `conformance/${label}-${randomUUID().slice(0, 8)}`;

  describe('versioned value', () => {
    it('loses no update among concurrent writers, and reports the conflicts it retried', async () => {
      const coords = await Promise.all([target.open(), target.open(), target.open(), target.open()]);
      const name = unique('counter');
      const perWriter = 5;
      let conflicts = 0;
      await Promise.all(
        coords.map(async (coord) => {
          for (let i = 0; i < perWriter; i++) {
            const result = await coord.value(name).update((current) => String(Number(current ?? '0') + 1), { maxAttempts: 200 });
            conflicts += result.conflicts;
          }
        }),
      );
      const final = await coords[0]!.value(name).get();
      expect(final?.value).toBe(String(coords.length * perWriter));
      expect(conflicts).toBeGreaterThanOrEqual(0);
    });

    it('gives each write a higher revision, and reads back what was written', async () => {
      const coord = await target.open();
      const value = coord.value(unique('revisions'));
      expect(await value.get()).toBeUndefined();
      const first = await value.update(() => 'one');
      const second = await value.update((current) => `${current}+two`);
      expect(second.revision > first.revision).toBe(true);
      expect(await value.get()).toEqual({ value: 'one+two', revision: second.revision });
      expect(await value.delete()).toBe(true);
      expect(await value.get()).toBeUndefined();
    });

    it('reports a conflict after maxAttempts lost races, writing nothing', async () => {
      const [a, b] = await Promise.all([target.open(), target.open()]);
      const name = unique('conflict');
      await a.value(name).update(() => 'start');
      // Every attempt of a's update is overtaken by a write of b's between its read and its write.
      const update = a.value(name).update(async (current) => {
        await b.value(name).update(() => `${current}!`);
        return 'from a';
      }, { maxAttempts: 3 });
      await expect(update).rejects.toBeInstanceOf(ConflictError);
      expect((await a.value(name).get())?.value).toBe('start!!!');
    });

    it('refuses bad input at once', async () => {
      const coord = await target.open();
      expect(() => coord.value('bad//name')).toThrow(InvalidArgumentError);
      await expect(coord.value(unique('bad')).update('x' as never)).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(coord.value(unique('bad')).update(() => 'x', { maxAttempts: 0 })).rejects.toThrow(/maxAttempts must be an integer/);
      await expect(coord.value(unique('bad')).update(() => 42 as never)).rejects.toBeInstanceOf(InvalidArgumentError);
    });
  });

  describe('barrier', () => {
    it('holds waiters while set and releases them all when removed', async () => {
      const [setter, w1, w2] = await Promise.all([target.open(), target.open(), target.open()]);
      const name = unique('barrier');
      expect(await setter.barrier(name).set()).toBe(true);
      expect(await setter.barrier(name).set()).toBe(false);
      expect(await w1.barrier(name).isSet()).toBe(true);
      const waiting = [w1.barrier(name).wait(), w2.barrier(name).wait()];
      expect(await stillPending(Promise.race(waiting), w1)).toBe(true);
      expect(await setter.barrier(name).remove()).toBe(true);
      await Promise.all(waiting);
      expect(await w1.barrier(name).isSet()).toBe(false);
      await w1.barrier(name).wait(); // not set: passes at once
    });

    it('times out a wait on a barrier that stays set', async () => {
      const coord = await target.open();
      const name = unique('barrier-timeout');
      await coord.barrier(name).set();
      await expect(coord.barrier(name).wait({ timeoutMs: 200 })).rejects.toBeInstanceOf(TimeoutError);
      await coord.barrier(name).remove();
    });

    it('is apart from the value of the same name: neither reads, sets nor removes the other', async () => {
      const coord = await target.open();
      const name = unique('barrier-and-value');
      try {
        expect(await coord.barrier(name).set()).toBe(true);
        expect(await coord.value(name).get()).toBeUndefined();
        await coord.value(name).update((current) => `${current ?? 'unset'}+written`);
        expect((await coord.value(name).get())?.value).toBe('unset+written');
        expect(await coord.barrier(name).remove()).toBe(true);
        expect((await coord.value(name).get())?.value).toBe('unset+written');
        expect(await coord.value(name).delete()).toBe(true);
        expect(await coord.barrier(name).isSet()).toBe(false);
        await coord.value(name).update(() => 'again');
        expect(await coord.barrier(name).isSet()).toBe(false);
        await coord.barrier(name).wait({ timeoutMs: 5000 }); // not set: passes at once
      } finally {
        // The suite keeps its coordinators to the end; this one's connections are not needed.
        await coord.close();
      }
    });
    it('is apart from a guarded-write key of the same name: neither reads, sets nor removes the other', async () => {
      const coord = await target.open();
      const name = unique('barrier-and-written');
      const lease = await coord.mutex(unique('writer')).acquire();
      try {
        expect(await coord.barrier(name).set()).toBe(true);
        if (target.barrierIsGuardedKey) {
          // One node, as documented: the barrier reads as a key, the key's write keeps it set.
          expect(await coord.readKey(name)).toBe('');
          expect(await lease.guardedWrite([{ put: name, value: 'data' }])).toBe(true);
          expect(await coord.barrier(name).isSet()).toBe(true);
          expect(await coord.barrier(name).remove()).toBe(true);
          expect(await coord.readKey(name)).toBeUndefined();
          return;
        }
        expect(await coord.readKey(name)).toBeUndefined();
        expect(await lease.guardedWrite([{ put: name, value: 'data' }])).toBe(true);
        expect(await coord.barrier(name).remove()).toBe(true);
        expect(await coord.readKey(name)).toBe('data');
        // A key written, no barrier set: waiters pass; the key's deletion leaves a barrier set.
        expect(await coord.barrier(name).isSet()).toBe(false);
        await coord.barrier(name).wait({ timeoutMs: 5000 });
        expect(await coord.barrier(name).set()).toBe(true);
        expect(await lease.guardedWrite([{ delete: name }])).toBe(true);
        expect(await coord.barrier(name).isSet()).toBe(true);
        expect(await coord.barrier(name).remove()).toBe(true);
        // Nor a key named like the place a backend keeps its plain keys (etcd's `__values/`).
        expect(await lease.guardedWrite([{ put: `__values/${name}`, value: 'data' }])).toBe(true);
        expect(await coord.barrier(name).isSet()).toBe(false);
      } finally {
        await lease.release();
        // The suite keeps its coordinators to the end; this one's connections are not needed.
        await coord.close();
      }
    });
  });

  describe('double barrier', () => {
    it('lets members proceed only together, on entering and on leaving, and can be used again', async () => {
      const coords = await Promise.all([target.open(), target.open(), target.open()]);
      const name = unique('double');
      for (let round = 0; round < 2; round++) {
        const barriers = coords.map((coord) => coord.doubleBarrier(name, { members: 3 }));
        const first = barriers[0]!.enter();
        const second = barriers[1]!.enter();
        expect(await stillPending(Promise.race([first, second]), coords[0]!)).toBe(true);
        await Promise.all([first, second, barriers[2]!.enter()]);
        const leaving = [barriers[0]!.leave(), barriers[1]!.leave()];
        expect(await stillPending(Promise.race(leaving), coords[0]!)).toBe(true);
        await Promise.all([...leaving, barriers[2]!.leave()]);
        expect(await backendOf(coords[0]!).list(membersPrefix(name))).toEqual([]);
      }
    });

    it('is not passed, nor cleared, by a value named like its ready flag', async () => {
      const coord = await target.open();
      const name = unique('double-flag');
      try {
        // A name that reads like the flag's is any user's to take: the barrier must not see it.
        await coord.value(`${name}-ready`).update(() => 'not a flag');
        await expect(coord.doubleBarrier(name, { members: 2 }).enter({ timeoutMs: 300 })).rejects.toBeInstanceOf(TimeoutError);
        // A round of one member sets its flag and clears it on the way out: only its own flag.
        const alone = coord.doubleBarrier(name, { members: 1 });
        await alone.enter();
        await alone.leave();
        expect((await coord.value(`${name}-ready`).get())?.value).toBe('not a flag');
      } finally {
        await coord.close();
      }
    });

    it('is apart from an election of the same name: neither counts nor waits for the other', async () => {
      const [a, b] = await Promise.all([target.open(), target.open()]);
      const name = unique('double-and-election');
      // A member entered first is not a candidate: a campaign wins at once, and leads alone.
      const member = b.doubleBarrier(name, { members: 1 });
      await member.enter();
      const leadership = await a.election(name).campaign('leader-a', { timeoutMs: 2000 });
      expect(await b.election(name).leader()).toEqual({ key: leadership.key, value: 'leader-a', token: leadership.token });
      await member.leave({ timeoutMs: 2000 });
      // A candidate is not a member: a barrier of two still waits for a second member.
      await expect(b.doubleBarrier(name, { members: 2 }).enter({ timeoutMs: 300 })).rejects.toBeInstanceOf(TimeoutError);
      const pair = [a.doubleBarrier(name, { members: 2 }), b.doubleBarrier(name, { members: 2 })];
      await Promise.all(pair.map((barrier) => barrier.enter({ timeoutMs: 5000 })));
      await Promise.all(pair.map((barrier) => barrier.leave({ timeoutMs: 5000 })));
      // And leaving did not wait for, nor end, the leadership.
      expect(leadership.signal.aborted).toBe(false);
      await leadership.release();
      await Promise.all([a.close(), b.close()]);
    });

    it('leaves again when entering times out, and refuses bad members', async () => {
      const coord = await target.open();
      const name = unique('double-timeout');
      await expect(coord.doubleBarrier(name, { members: 2 }).enter({ timeoutMs: 200 })).rejects.toBeInstanceOf(TimeoutError);
      expect(await backendOf(coord).list(membersPrefix(name))).toEqual([]);
      expect(() => coord.doubleBarrier(name, { members: 0 })).toThrow(/members must be an integer/);
    });
  });
}
