import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, type Coordinator, type Lease } from '../../src/index.js';
import type { MemoryBackend } from '../../src/backends/memory/index.js';
import { sharedStore } from '../../src/backends/memory/store.js';
import { backendOf } from '../../src/testing.js';
import { until } from '../support/until.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
/** One turn of the event loop: a WeakRef's target is kept until the turn that made it is over. */
const turn = () => new Promise((resolve) => setImmediate(resolve));

// A process with thousands of waiters pays for every object a wait makes, so what one wait makes
// is counted here (speed itself is measured by bench/waiters.mjs, not by a test).
describe('allocations of a wait on the embedded backend', () => {
  const OriginalController = globalThis.AbortController;
  let coord: Coordinator | undefined;
  afterEach(async () => {
    globalThis.AbortController = OriginalController;
    await coord?.close();
  });

  it('a waiter with no timeout and no signal makes no AbortController from its call to its grant, however often it is woken, and its release none', async () => {
    coord = await connect('memory://');
    const mutex = coord.mutex('allocations');
    const waiters = 4;
    const holder = await mutex.acquire();
    const made = { waits: 0, removals: 0 };
    globalThis.AbortController = class extends OriginalController {
      constructor() {
        super();
        // Counted apart: a release's removal attempt made one per release before it was
        // bounded by the removals' shared deadline timer.
        if (new Error().stack?.includes('GuaranteedRemovals')) made.removals++;
        else made.waits++;
      }
    };
    const granted: Promise<Lease>[] = [];
    for (let i = 0; i < waiters; i++) granted.push(mutex.acquire());
    // Served one after another: each waiter is granted when the one before it releases.
    let lease = holder;
    for (const next of granted) {
      await lease.release();
      lease = await next;
    }
    globalThis.AbortController = OriginalController;
    await lease.release();
    // Before: one per release, and one per acquire (the never-aborting signal it entered the
    // queue and started its wait within; it now enters on the shared one and starts without).
    expect(made.removals).toBe(0);
    expect(made.waits).toBe(0);
  });

  it('a waiting acquire with no timeout and no signal keeps no AbortSignal alive while it waits', async () => {
    coord = await connect('memory://');
    const mutex = coord.mutex('allocations-kept');
    const holder = await mutex.acquire();
    // Every signal the acquire makes on its way into the queue, held weakly: an AbortSignal costs
    // most of a kilobyte, so one kept for the whole wait by thousands of waiters is what they cost.
    const signals: WeakRef<AbortSignal>[] = [];
    globalThis.AbortController = class extends OriginalController {
      constructor() {
        super();
        signals.push(new WeakRef(this.signal));
      }
    };
    let granted = false;
    const waiting = mutex.acquire().then((lease) => {
      granted = true;
      return lease;
    });
    // Entering takes a few turns (session, enqueue, the wait's request): counted until it waits.
    try {
      let turns = 0;
      while ((await mutex.status()).waiters.length === 0 && turns++ < 50) await turn();
    } finally {
      globalThis.AbortController = OriginalController;
    }
    // Once it waits, any signal it made must be garbage. Kept by the wait, it never is, however
    // many turns pass. (It makes none now: it enters on the shared never-aborting signal.)
    let turns = 0;
    while (signals.some((ref) => ref.deref() !== undefined) && turns++ < 50) {
      await turn();
      gc();
    }
    expect(signals.filter((ref) => ref.deref() !== undefined)).toHaveLength(0);
    expect((await mutex.status()).waiters).toHaveLength(1);
    expect(granted).toBe(false);
    await holder.release();
    await (await waiting).release();
  });

  it("waiters in line make no Set of listeners in the store: the key ahead has one listener, its owner's watch being kept in the key", async () => {
    coord = await connect('memory://');
    const mutex = coord.mutex('allocations-listeners');
    const waiters = 4;
    const holder = await mutex.acquire();
    const OriginalSet = globalThis.Set;
    let made = 0;
    globalThis.Set = class<T> extends OriginalSet<T> {
      constructor(values?: Iterable<T> | null) {
        super(values);
        // A Set of a key's listeners: some 150 bytes per waiter when its owner and the waiter
        // behind it listened to the key side by side.
        if (new Error().stack?.includes('memory/store')) made++;
      }
    } as SetConstructor;
    try {
      const waits = () => (backendOf(coord!) as MemoryBackend).stats().operations.waitForBlocker ?? 0;
      const waitsBefore = waits();
      const granted: Promise<Lease>[] = [];
      for (let i = 0; i < waiters; i++) granted.push(mutex.acquire());
      // All in line and waiting for the key ahead (each wait's request answered) before any release.
      await until(() => waits() >= waitsBefore + waiters, 'every waiter waits for the key ahead', 10_000);
      await turn();
      let lease = holder;
      for (const next of granted) {
        await lease.release();
        lease = await next;
      }
      await lease.release();
    } finally {
      globalThis.Set = OriginalSet;
    }
    expect(made).toBe(0);
  });

  it('a waiting acquire keeps nothing of what it read on entering: the entries of the keys ahead are garbage while it waits', async () => {
    coord = await connect('memory://');
    const mutex = coord.mutex('allocations-read');
    const holder = await mutex.acquire();
    // The standing read on entering (the head and the key just ahead), held weakly: a waiter that
    // kept it for the wait, or what it made of it, would cost its size in every waiter.
    const read: WeakRef<object>[] = [];
    const standing = sharedStore.standing;
    sharedStore.standing = function (this: typeof sharedStore, ...args: Parameters<typeof standing>) {
      const found = standing.apply(this, args);
      for (const entry of [found.head, found.predecessor]) if (entry) read.push(new WeakRef(entry));
      return found;
    };
    let waiting: Promise<Lease>;
    try {
      waiting = mutex.acquire();
      await until(() => read.length > 0, 'the waiter read its standing', 10_000);
    } finally {
      sharedStore.standing = standing;
    }
    let turns = 0;
    while (read.some((ref) => ref.deref() !== undefined) && turns++ < 50) {
      await turn();
      gc();
    }
    expect(read.filter((ref) => ref.deref() !== undefined)).toHaveLength(0);
    expect((await mutex.status()).waiters).toHaveLength(1);
    await holder.release();
    await (await waiting).release();
  });
});

