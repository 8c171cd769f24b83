/**
 * Queue positions cost no listing per change on etcd and ZooKeeper: each coordinator follows a
 * name's membership incrementally (Backend.followPrefix: etcd's watched view, ZooKeeper's
 * persistent recursive watch), instead of listing the name again at every change. Counted on
 * the coordinators' real backends (every list, watchPrefix, and whole membership a follow hands
 * over), for N = 10 and N = 200 waiters queued over four coordinators, every one with onQueued:
 * the listings per handoff must be the same for both N, and none of them may come from positions
 * (only the woken waiter's own check of the queue).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend, PrefixFollower } from '../../src/backends/contract.js';
import { type Coordinator, connect, type Lease } from '../../src/index.js';
import { backendOf } from '../../src/testing.js';
import { type EtcdServers, localEtcdAvailable, startEtcd } from '../support/etcd-server.js';
import { localZooKeeperAvailable, startZooKeeper, type ZooKeeperServers } from '../support/zookeeper-server.js';

const COORDINATORS = 4;
const HANDOFFS = 3;
const isCI = process.env.CI === 'true';

/** Listings the coordinators' backends made or handed over, by kind. */
interface Listings {
  /** `list` calls: a waiter checking the queue after its wake-up. */
  lists: number;
  /** `watchPrefix` calls and whole memberships handed to a follower: what positions cost. */
  forPositions: number;
}

/** Counts the listings `backend` makes from now on, into `counts`. */
function countListings(backend: Backend, counts: Listings): void {
  const list = backend.list.bind(backend);
  backend.list = (prefix, signal) => {
    counts.lists++;
    return list(prefix, signal);
  };
  const watchPrefix = backend.watchPrefix.bind(backend);
  backend.watchPrefix = (prefix, signal) => {
    counts.forPositions++;
    return watchPrefix(prefix, signal);
  };
  const followPrefix = backend.followPrefix?.bind(backend);
  if (followPrefix) {
    backend.followPrefix = (prefix, signal, follower) => {
      const counting: PrefixFollower = {
        reset: (entries) => {
          counts.forPositions++;
          follower.reset(entries);
        },
        created: (entry) => follower.created(entry),
        deleted: (key) => follower.deleted(key),
      };
      followPrefix(prefix, signal, counting);
    };
  }
}

/** Queues `waiters` contenders with onQueued behind one holder; counts what HANDOFFS handoffs list. */
async function listingsPerHandoff(url: string, waiters: number): Promise<Listings> {
  const coords: Coordinator[] = [];
  for (let i = 0; i < COORDINATORS + 1; i++) coords.push(await connect(url));
  const [holderCoord, ...waiterCoords] = coords as [Coordinator, ...Coordinator[]];
  const counts: Listings = { lists: 0, forPositions: 0 };
  for (const coord of waiterCoords) countListings(backendOf(coord) as Backend, counts);
  const name = `costs/listings-${waiters}-${Math.random().toString(36).slice(2, 8)}`;
  try {
    const holder = await holderCoord.mutex(name).acquire();
    const positions: (number | undefined)[] = [];
    const leases: Promise<Lease>[] = [];
    for (let i = 0; i < waiters; i++) {
      const lease = (waiterCoords[i % COORDINATORS] as Coordinator).mutex(name).acquire({ onQueued: (position) => (positions[i] = position) });
      lease.catch(() => {});
      leases.push(lease);
      await until(() => positions[i] !== undefined);
    }
    // Every waiter knows where it stands: every coordinator follows the queue.
    await until(() => positions.length === waiters && positions.every((p, i) => p === i));
    const before = { ...counts };
    await holder.release();
    for (let k = 0; k < HANDOFFS; k++) {
      const lease = await (leases[k] as Promise<Lease>);
      if (k < HANDOFFS - 1) await lease.release();
    }
    // Every waiter still in line has heard that it moved up.
    await until(() => positions.every((p, i) => i < HANDOFFS || p === i - HANDOFFS));
    return { lists: (counts.lists - before.lists) / HANDOFFS, forPositions: (counts.forPositions - before.forPositions) / HANDOFFS };
  } finally {
    // Closing rejects the acquires still waiting (their rejections are handled above).
    await Promise.all(coords.map((c) => c.close()));
  }
}

/** Resolves once `test()` holds, checking after each turn of the event loop (bounded by the test's timeout). */
async function until(test: () => boolean): Promise<void> {
  while (!test()) await new Promise((resolve) => setImmediate(resolve));
}

function expectNoListingsForPositions(small: Listings, large: Listings): void {
  const figures = `per handoff: ${JSON.stringify(small)} with 10 waiters, ${JSON.stringify(large)} with 200`;
  expect(small.forPositions, figures).toBe(0);
  expect(large.forPositions, figures).toBe(0);
  // The woken waiter's own look at the queue: at most one per handoff, whatever the queue length.
  expect(large.lists, figures).toBe(small.lists);
  expect(small.lists, figures).toBeLessThanOrEqual(1);
}

const etcdWanted = localEtcdAvailable() || !!process.env.BATON_TEST_ETCD_ENDPOINTS || isCI;
describe.skipIf(!etcdWanted)('etcd: listings per handoff with every waiter asking for its position', () => {
  let servers: EtcdServers | undefined;
  beforeAll(async () => {
    servers = await startEtcd();
  }, 300_000);
  afterAll(() => servers?.stop());

  it('none for positions, the same for 10 and 200 waiters', async () => {
    const url = servers!.url({ ttl: 30 });
    expectNoListingsForPositions(await listingsPerHandoff(url, 10), await listingsPerHandoff(url, 200));
  }, 300_000);
});

const zookeeperWanted = localZooKeeperAvailable() || !!process.env.BATON_TEST_ZOOKEEPER_ENDPOINTS || isCI;
describe.skipIf(!zookeeperWanted)('ZooKeeper: listings per handoff with every waiter asking for its position', () => {
  let servers: ZooKeeperServers | undefined;
  beforeAll(async () => {
    servers = await startZooKeeper(1);
  }, 300_000);
  afterAll(() => servers?.stop());

  it('none for positions, the same for 10 and 200 waiters', async () => {
    const url = servers!.url({ sessionTimeout: 30_000 });
    expectNoListingsForPositions(await listingsPerHandoff(url, 10), await listingsPerHandoff(url, 200));
  }, 300_000);
});
