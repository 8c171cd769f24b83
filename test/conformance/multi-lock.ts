/**
 * Conformance of the multi-lock, run by the suite on every backend: all or nothing, one global
 * order (crossing requests never deadlock), a timeout releases what was taken, one loss signal.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type Coordinator, InvalidArgumentError, LeaseLostError, LeaseReleasedError, TimeoutError } from '../../src/index.js';
import { backendOf } from '../../src/testing.js';
import { keysUntil } from '../support/keys-until.js';
import { watchSchedulingLag } from '../support/scheduling-lag.js';

export interface MultiLockTarget {
  open(options?: { ttl?: number }): Promise<Coordinator>;
  expireSession(coord: Coordinator): Promise<void>;
  /** As the suite's target: freezes the backend as `coord` sees it; returns the thaw. */
  freeze?(coord: Coordinator): () => void | Promise<void>;
}

function aborted(signal: AbortSignal): Promise<unknown> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve(signal.reason);
    else signal.addEventListener('abort', () => resolve(signal.reason), { once: true });
  });
}

export function describeMultiLock(target: MultiLockTarget): void {
  const unique = (label: string) => `conformance/${label}-${randomUUID().slice(0, 8)}`;

  describe('multi-lock', () => {
    it.skipIf(!target.freeze)('a timeout while the backend does not answer rejects within timeoutMs + 250 ms, the parts taken released', async () => {
      const [x, y] = await Promise.all([target.open(), target.open()]);
      const a = unique('frozen-a');
      const b = unique('frozen-b');
      const blocker = await x.mutex(b).acquire();
      const lag = watchSchedulingLag();
      const deadline = performance.now() + 1000;
      const settled = y
        .multiLock([{ mutex: a }, { mutex: b }])
        .acquire({ timeoutMs: 1000 })
        .then(
          () => ({ error: undefined, at: performance.now() }),
          (error: unknown) => ({ error, at: performance.now() }),
        );
      // y holds a and waits behind x on b.
      await keysUntil(x, b, (keys) => keys.length === 2);
      const thaw = target.freeze!(y);
      let overrun: number;
      try {
        const { error, at } = await settled;
        expect(error).toBeInstanceOf(TimeoutError);
        overrun = Math.round(at - deadline - lag.notRunningMs(deadline, at));
      } finally {
        lag.stop();
        await thaw();
      }
      // Awaiting the release of a until confirmed held the rejection until y's session ended.
      expect(overrun).toBeLessThan(250);
      await keysUntil(x, a, (keys) => keys.length === 0);
      expect(await keysUntil(x, b, (keys) => keys.length === 1)).toEqual([blocker.key]);
      await blocker.release();
    });

    it('never deadlocks when two clients ask for the same locks in crossing orders', async () => {
      const [x, y] = await Promise.all([target.open(), target.open()]);
      const a = unique('cross-a');
      const b = unique('cross-b');
      let inside = 0;
      let maxInside = 0;
      const rounds = 5;
      // Taken in the callers' orders, x would hold a and y hold b on the first round (both
      // uncontended), and each would then wait for the other until the timeout.
      const worker = (coord: Coordinator, names: [string, string]) => async () => {
        for (let i = 0; i < rounds; i++) {
          await coord.multiLock([{ mutex: names[0] }, { mutex: names[1] }]).withLock(
            async () => {
              inside++;
              maxInside = Math.max(maxInside, inside);
              await new Promise((r) => setImmediate(r));
              inside--;
            },
            { timeoutMs: 5000 },
          );
        }
      };
      await Promise.all([worker(x, [a, b])(), worker(y, [b, a])()]);
      expect(maxInside).toBe(1);
    });

    it('takes parts in name order and reports tokens in the caller order', async () => {
      const coord = await target.open();
      const a = unique('order-a');
      const z = `${a}-z`;
      const lock = coord.multiLock([{ write: z }, { semaphore: a, permits: 2 }]);
      expect(lock.order).toEqual([a, z]);
      const held = await lock.acquire();
      expect(held.parts.map((part) => part.name)).toEqual([z, a]);
      expect(held.tokens).toEqual(held.parts.map((part) => part.token));
      expect(held.tokens[0]! > held.tokens[1]!).toBe(true); // z was taken second
      await held.release();
      await held.release(); // idempotent
      expect(held.signal.reason).toBeInstanceOf(LeaseReleasedError);
    });

    it('releases the parts it took when a later part times out', async () => {
      const [owner, other] = await Promise.all([target.open(), target.open()]);
      const a = unique('partial-a');
      const b = unique('partial-b');
      const blocker = await owner.mutex(b).acquire();
      await expect(other.multiLock([{ mutex: b }, { mutex: a }]).acquire({ timeoutMs: 300 })).rejects.toBeInstanceOf(TimeoutError);
      // a was taken first (name order) and must be free again, with no key left behind.
      expect(await backendOf(other).list(a)).toEqual([]);
      const free = await owner.mutex(a).tryAcquire();
      expect(free).toBeDefined();
      await free?.release();
      await blocker.release();
    });

    it('aborts its one signal when any part is lost', async () => {
      const coord = await target.open({ ttl: 2 });
      const held = await coord.multiLock([{ mutex: unique('loss-a') }, { read: unique('loss-b') }]).acquire();
      await target.expireSession(coord);
      expect(await aborted(held.signal)).toBeInstanceOf(LeaseLostError);
      await held.release();
    });

    it('refuses bad parts at once, naming what is accepted', async () => {
      const coord = await target.open();
      const name = unique('bad');
      expect(() => coord.multiLock([])).toThrow(InvalidArgumentError);
      expect(() => coord.multiLock([{ read: name }, { write: name }])).toThrow(/name the same lock/);
      expect(() => coord.multiLock([{ mutex: name, read: name } as never])).toThrow(/each name at most once/);
      expect(() => coord.multiLock([{ semaphore: name } as never])).toThrow(/permits/);
      await expect(coord.multiLock([{ mutex: name }]).acquire({ timeout: 5 } as never)).rejects.toThrow(/unknown option "timeout"/);
    });
  });
}
