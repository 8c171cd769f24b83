import { describe, expect, it } from 'vitest';
import { connect } from '../../src/index.js';

// The status() snapshot that `baton status` prints, on the embedded backend.
describe('status() snapshot', () => {
  it('mutex: the holder, then waiters in the order they queued', async () => {
    await using a = await connect('memory://');
    const lock = a.mutex('status/m');
    const holder = await lock.acquire();
    const queued: Promise<void>[] = [];
    const waiters: Promise<unknown>[] = [];
    for (let i = 0; i < 3; i++) {
      let onQueued!: () => void;
      queued.push(new Promise<void>((resolve) => (onQueued = resolve)));
      waiters.push(lock.acquire({ onQueued: () => onQueued() }));
      await queued[i];
    }
    const status = await lock.status();
    expect(status.name).toBe('status/m');
    expect(status.holders.map((m) => m.key)).toEqual([holder.key]);
    expect(status.holders[0]?.token).toBe(holder.token);
    expect(status.waiters).toHaveLength(3);
    const tokens = status.waiters.map((m) => m.token);
    expect([...tokens].sort((x, y) => (x < y ? -1 : 1))).toEqual(tokens);
    expect(tokens[0]! > holder.token).toBe(true);
    // The memory backend records creation times: waiters in queue order were created in that order.
    const created = status.waiters.map((m) => m.createdAt as number);
    expect(created.every((t) => typeof t === 'number')).toBe(true);
    expect([...created].sort((x, y) => x - y)).toEqual(created);
    await holder.release();
    const next = (await waiters[0]) as { key: string; release(): Promise<void> };
    const after = await lock.status();
    expect(after.holders.map((m) => m.key)).toEqual([next.key]);
    expect(after.waiters).toHaveLength(2);
    await a.close();
    await Promise.allSettled(waiters);
  });

  it('election: the leader with its value, then campaigners', async () => {
    await using a = await connect('memory://');
    const election = a.election('status/e');
    const leader = await election.campaign('first');
    let queued!: () => void;
    const inLine = new Promise<void>((resolve) => (queued = resolve));
    const second = election.campaign('second', { onQueued: () => queued() });
    await inLine;
    const status = await election.status();
    expect(status.holders.map((m) => m.value)).toEqual(['first']);
    expect(status.holders[0]?.token).toBe(leader.token);
    expect(status.waiters.map((m) => m.value)).toEqual(['second']);
    await a.close();
    await second.catch(() => {});
  });

  it('semaphore: the first N leases hold, the gate holder waits first', async () => {
    await using a = await connect('memory://');
    const sem = a.semaphore('status/s', { permits: 2 });
    const one = await sem.acquire();
    const two = await sem.acquire();
    const positions: number[] = [];
    let queued!: () => void;
    const inLine = new Promise<void>((resolve) => (queued = resolve));
    const third = sem.acquire({ onQueued: (p) => (positions.push(p), queued()) });
    await inLine;
    const status = await sem.status();
    expect(status.holders.map((m) => m.token)).toEqual([one.token, two.token]);
    expect(status.waiters).toHaveLength(1);
    await a.close();
    await third.catch(() => {});
  });

  it('read-write lock: concurrent readers hold, a writer behind them waits', async () => {
    await using a = await connect('memory://');
    const rw = a.readWriteLock('status/rw');
    const r1 = await rw.read();
    const r2 = await rw.read();
    let queued!: () => void;
    const inLine = new Promise<void>((resolve) => (queued = resolve));
    const writer = rw.write({ onQueued: () => queued() });
    await inLine;
    const status = await rw.status();
    expect(status.holders.map((m) => m.key)).toEqual([r1.key, r2.key]);
    expect(status.waiters.map((m) => m.role)).toEqual(['write']);
    await a.close();
    await writer.catch(() => {});
  });
});
