import { describe, expect, it } from 'vitest';
import { connect, LeaseLostError } from '../../src/index.js';
import { backendOf, ManualClock, MemoryBackend } from '../../src/testing.js';
import { keysUntil } from '../support/keys-until.js';
import { runConformance } from './suite.js';

const memoryOf = (coord: Parameters<typeof backendOf>[0]) => backendOf(coord) as MemoryBackend;

runConformance({
  name: 'memory',
  connect: (options) => connect({ backend: 'memory', ttl: options?.ttl }),
  async expireSession(coord) {
    memoryOf(coord).expireSession();
  },
  async deleteKey(key) {
    const probe = await connect('memory://');
    memoryOf(probe).deleteKey(key);
    await probe.close();
  },
  freeze(coord) {
    const faults = memoryOf(coord).faults;
    faults.freeze();
    return () => faults.thaw();
  },
  failNext(coord, plan) {
    memoryOf(coord).faults.failNext(plan);
  },
  manyWaiters: 1000,
});

describe('memory backend specifics', () => {
  it('a release wakes exactly one of several waiters', async () => {
    const coords = await Promise.all([0, 1, 2, 3, 4].map(() => connect()));
    const name = `memory/wake-one-${process.pid}`;
    const holder = await coords[0]!.mutex(name).acquire();
    // Waiters that ask for their position are woken by every change ahead of them, so these
    // waiters do not ask: the test sees them queue by watching the lock's keys instead.
    const waiters = [];
    for (const [index, coord] of coords.slice(1).entries()) {
      waiters.push(coord.mutex(name).acquire());
      await keysUntil(coords[0]!, name, (keys) => keys.length >= index + 2);
    }
    const before = memoryOf(coords[0]!).stats().wakeups;
    await holder.release();
    const next = await waiters[0]!;
    // The successor's own key watch is armed, not fired: the one wake-up is the successor's.
    expect(memoryOf(coords[0]!).stats().wakeups - before).toBe(1);
    await next.release();
    for (const waiter of waiters.slice(1)) await (await waiter).release();
    await Promise.all(coords.map((c) => c.close()));
  });

  it('an uncontended acquire is one round trip and a release one more', async () => {
    const coord = await connect();
    const backend = memoryOf(coord);
    const before = backend.stats().operations;
    const lease = await coord.mutex('memory/round-trips').acquire();
    await lease.release();
    const after = backend.stats().operations;
    expect(after.enqueue! - (before.enqueue ?? 0)).toBe(1);
    expect(after.remove! - (before.remove ?? 0)).toBe(1);
    expect((after.list ?? 0) - (before.list ?? 0)).toBe(0);
    await coord.close();
  });

  it('a session whose keep-alive stops expires after its TTL, and its holds are lost', async () => {
    const clock = new ManualClock();
    const [a, b] = await Promise.all([connect({ backend: 'memory', ttl: 3, clock }), connect({ backend: 'memory', ttl: 3, clock })]);
    const lease = await a.mutex('memory/ttl').acquire();
    clock.advance(10_000); // keep-alives run: the session survives well past its TTL
    expect(lease.signal.aborted).toBe(false);
    memoryOf(a).suspendKeepAlive();
    clock.advance(2_999);
    expect(lease.signal.aborted).toBe(false);
    clock.advance(1);
    expect(lease.signal.reason).toBeInstanceOf(LeaseLostError);
    const successor = await b.mutex('memory/ttl').tryAcquire();
    expect(successor?.token).toBeGreaterThan(lease.token);
    await successor?.release();
    await Promise.all([a.close(), b.close()]);
  });

  it('coordinators of one process share one store', async () => {
    const [a, b] = await Promise.all([connect('memory://'), connect()]);
    const lease = await a.mutex('memory/shared').acquire();
    expect(await b.mutex('memory/shared').tryAcquire()).toBeUndefined();
    await lease.release();
    await Promise.all([a.close(), b.close()]);
  });

  it('closing a coordinator loses its holds and rejects its waiters', async () => {
    const [a, b] = await Promise.all([connect(), connect()]);
    const held = await b.mutex('memory/close').acquire();
    const lease = await a.mutex('memory/close-own').acquire();
    let queued!: () => void;
    const isQueued = new Promise<void>((r) => (queued = r));
    const waiting = a.mutex('memory/close').acquire({ onQueued: queued });
    await isQueued;
    await a.close();
    expect(lease.signal.reason).toBeInstanceOf(LeaseLostError);
    await expect(waiting).rejects.toMatchObject({ name: 'ClosedError' });
    await expect(a.mutex('memory/close').acquire()).rejects.toMatchObject({ name: 'ClosedError' });
    await held.release();
    await b.close();
  });
});
