/**
 * The costs docs/etcd.md promises, counted on a real etcd: an uncontended acquire is one
 * transaction and a release one; a handoff costs the waiter no request at all (the watch event
 * grants it); waiting sends nothing (no polling); a name's watch is created once per connection
 * (test/integration/etcd-shared-connection.test.ts: once per process for coordinators sharing one).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EtcdBackend } from '../../src/backends/etcd/index.js';
import { type Coordinator, connect, type Lease } from '../../src/index.js';
import { backendOf } from '../../src/testing.js';
import { leastAllocationsOf } from '../support/allocations.js';
import { type EtcdServers, localEtcdAvailable, startEtcd } from '../support/etcd-server.js';
import { until } from '../support/until.js';

const wanted = localEtcdAvailable() || !!process.env.BATON_TEST_ETCD_ENDPOINTS || process.env.CI === 'true';
let servers: EtcdServers | undefined;
const coords: Coordinator[] = [];

beforeAll(async () => {
  servers = await startEtcd();
}, 120_000);
afterAll(async () => {
  await Promise.all(coords.map((coord) => coord.close()));
  await servers?.stop();
});

/**
 * A coordinator whose requests to etcd are counted by kind. On a connection of its own: the
 * process's coordinators otherwise share one client (docs/etcd.md), and each one's requests are
 * counted apart here.
 */
async function counted(): Promise<{ coord: Coordinator; calls: Record<string, number>; reset(): void }> {
  const coord = await connect(servers!.url({ ttl: 10, shareConnection: false }));
  coords.push(coord);
  const backend = backendOf(coord);
  if (!(backend instanceof EtcdBackend)) throw new Error('not an etcd backend');
  const calls: Record<string, number> = {};
  // Every unary call and stream the client sends, by method name ('Txn' -> txn, 'Range' -> range).
  backend.client.pool.onCall = (method) => {
    const name = method.slice(method.lastIndexOf('/') + 1);
    if (name === 'Watch' || name === 'LeaseKeepAlive') return; // streams, opened once
    const kind = name.charAt(0).toLowerCase() + name.slice(1);
    calls[kind] = (calls[kind] ?? 0) + 1;
  };
  // Watches are multiplexed on one stream: count each watch created on it.
  const watches = backend.client.watches;
  const watch = watches.watch.bind(watches);
  watches.watch = (...args: Parameters<typeof watch>) => {
    calls.watch = (calls.watch ?? 0) + 1;
    return watch(...args);
  };
  return {
    coord,
    calls,
    reset: () => {
      for (const key of Object.keys(calls)) delete calls[key];
    },
  };
}

const unique = (label: string) => `costs/${label}-${randomUUID().slice(0, 8)}`;

type Counted = Awaited<ReturnType<typeof counted>>;

/**
 * The holder takes `name` (with `enter`), then each of `waiters` starts its wait on it, one after
 * another, each queued once its key is listed; read by the holder, so the waiters' own counts stay
 * exact and start at zero. Each waiter's view of the name is opened first (it lingers for 30 s once
 * opened): the read that starts a view belongs to entering, not to waiting, and under load it was
 * once answered after the waiter's key was already listed.
 */
async function queueBehind(holder: Counted, name: string, waiters: Counted[], enter: (coord: Coordinator) => Promise<Lease>): Promise<{ lease: Lease; granted: Promise<Lease>[] }> {
  for (const waiter of waiters) await backendOf(waiter.coord).watchPrefix(name, new AbortController().signal);
  const lease = await enter(holder.coord);
  const granted: Promise<Lease>[] = [];
  for (const [i, waiter] of waiters.entries()) {
    granted.push(enter(waiter.coord));
    await until(async () => (await backendOf(holder.coord).list(name)).length >= i + 2, `waiter ${i + 1} queued`, 10_000);
    waiter.reset();
  }
  return { lease, granted };
}

describe.skipIf(!wanted)('etcd costs', () => {
  it('an uncontended acquire is one transaction, a release is one, and the name keeps its one watch', async () => {
    const { coord, calls, reset } = await counted();
    const mutex = coord.mutex(unique('uncontended'));
    await (await mutex.acquire()).release();
    expect(calls.watch).toBe(1);
    reset();
    for (let i = 0; i < 5; i++) {
      const lease = await mutex.acquire();
      expect(calls).toEqual({ txn: 2 * i + 1 });
      await lease.release();
      expect(calls).toEqual({ txn: 2 * i + 2 });
    }
  });

  it("an uncontended acquire+release makes no AbortController, not even for its wait's signal, and arms no timer of its own, not even for its requests' deadlines", async () => {
    const coord = await connect(servers!.url({ ttl: 60 }));
    coords.push(coord);
    const mutex = coord.mutex(unique('allocations'));
    await (await mutex.acquire()).release(); // the name's view
    // The least over a few pairs: a keep-alive or ping falling inside one pair adds its own.
    const least = await leastAllocationsOf(async () => (await mutex.acquire()).release());
    // No controller: an acquire with no limits enters on one shared never-aborting signal (the
    // etcd adapter never listens to one while entering), where it made a signal of its own before.
    // No timer: the deadlines of the two requests are watched by the transport's one deadline
    // timer (armed once for the earliest attempt in flight, and covering those that end before
    // it), where each request armed a timer of its own before ({ controllers: 1, timers: 2 }). The removal attempt is bounded by
    // its request's deadlines, and watched by the session's one deadline timer (armed by the
    // first release, a third of the TTL ahead), not by a controller and a timer of its own as
    // before that ({ controllers: 2, timers: 3 }). Earlier still: five controllers (also the
    // own-key watch's, its stop signal's and the hold's).
    expect(least).toEqual({ controllers: 0, timers: 0 });
    // Nothing is lost by making the hold's signal lazily: read after the release, it says so.
    const lease = await mutex.acquire();
    await lease.release();
    expect(lease.signal.aborted).toBe(true);
    expect((lease.signal.reason as Error).name).toBe('LeaseReleasedError');
  });

  it('a handoff costs the waiter no request, and waiting sends nothing', async () => {
    const name = unique('handoff');
    const holder = await counted();
    const waiters = await Promise.all([counted(), counted(), counted()]);
    const { lease, granted } = await queueBehind(holder, name, waiters, (coord) => coord.mutex(name).acquire());
    // Real time passes while everyone waits: 20 round trips of the holder's own.
    for (let i = 0; i < 20; i++) await backendOf(holder.coord).get(`${name}-elsewhere`);
    for (const waiter of waiters) expect(waiter.calls).toEqual({});
    holder.reset();
    await lease.release();
    const next = await granted[0]!;
    expect(holder.calls).toEqual({ txn: 1 });
    // The first waiter was granted on the watch event alone; the others were not even woken.
    for (const waiter of waiters) expect(waiter.calls).toEqual({});
    await next.release();
    for (const later of granted.slice(1)) await (await later).release();
  });

  it('a read-write lock waiter woken further back in the queue is granted on the watch event alone: the view hands it the queue', async () => {
    // Writers queue behind a writer: each waits for the key just ahead, and only the second in
    // line knows from the deletion alone that it is first. The others were handed the queue by
    // the view they waited on; before, each listed the name again ({ range: 1 }).
    const name = unique('rw-handoff');
    const holder = await counted();
    const waiters = await Promise.all([counted(), counted(), counted()]);
    const { lease, granted } = await queueBehind(holder, name, waiters, (coord) => coord.readWriteLock(name).write());
    await lease.release();
    for (const [i, waiter] of waiters.entries()) {
      const held = await granted[i]!;
      expect(waiter.calls, `writer ${i + 1} when granted`).toEqual({});
      await held.release();
    }
  });

  it('a waiter woken further back in the queue is granted on the watch event alone: a handoff is the release and nothing else', async () => {
    // 8 clients looping on one lock queue behind one another: each waiter entered behind several
    // keys, so its predecessor's deletion alone does not say it is first. The view it waits on
    // does (exact at the deletion, and at every write of its own), so it reads nothing. Before:
    // one standing read per such handoff, a round trip between the release and the grant.
    const name = unique('deep-handoff');
    const holder = await counted();
    const waiters = await Promise.all([counted(), counted(), counted(), counted()]);
    const { lease, granted } = await queueBehind(holder, name, waiters, (coord) => coord.mutex(name).acquire());
    holder.reset();
    await lease.release();
    expect(holder.calls).toEqual({ txn: 1 });
    for (const [i, waiter] of waiters.entries()) {
      const held = await granted[i]!;
      // Granted without a request; the release is its one transaction.
      expect(waiter.calls, `waiter ${i + 1} when granted`).toEqual({});
      await held.release();
      expect(waiter.calls, `waiter ${i + 1} after its release`).toEqual({ txn: 1 });
    }
  });
});
