/**
 * Queue positions cost no listing per change on etcd and ZooKeeper: each coordinator follows a
 * name's membership incrementally (Backend.followPrefix: etcd's watched view, ZooKeeper's
 * persistent recursive watch), instead of listing the name again at every change. Counted on
 * the coordinators' real backends (every list, watchPrefix, and whole membership a follow hands
 * over), for N = 10 and N = 200 waiters queued over four coordinators, every one with onQueued:
 * the listings per handoff must be the same for both N, and none of them may come from positions
 * (only the woken waiter's own check of the queue). And a coordinator cut off from the server
 * while the queue changes reports right positions once it is back (it follows anew, from a
 * fresh listing).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend, PrefixFollower } from '../../src/backends/contract.js';
import { type Coordinator, connect, type Lease } from '../../src/index.js';
import { backendOf } from '../../src/testing.js';
import { type EtcdServers, localEtcdAvailable, startEtcd } from '../support/etcd-server.js';
import { startTcpProxy } from '../support/tcp-proxy.js';
import { localZooKeeperAvailable, startZooKeeper, type ZooKeeperServers } from '../support/zookeeper-server.js';
import { keysUntil } from '../support/keys-until.js';
import { until } from '../support/until.js';

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
        behind: () => follower.behind?.(),
        caughtUp: () => follower.caughtUp?.(),
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

/**
 * Two waiters of a coordinator reaching the server through a proxy sit behind a holder and a
 * waiter of a directly connected one. While the proxy refuses the link, the direct waiter gives
 * up (its key goes) and a newcomer queues at the tail: the proxied coordinator's watch misses
 * both. Once the link is back its waiters must report 0 and 1 (they were 1 and 2). On etcd the
 * newcomer of the same session takes the name the one that gave up had: only its revision tells
 * them apart.
 */
/**
 * `whileCut`: the cut-off coordinator's positions before the link comes back. The waiter ahead
 * withdraws in this process: on etcd the cut-off coordinator's view holds its reports until its
 * watch shows that (1, 2); on ZooKeeper the process applies a deletion it saw confirmed to every
 * coordinator's view at once (src/backends/zookeeper/known-deletions.ts: 0, 1).
 */
async function positionsAfterReconnect(serverEndpoint: string, urlOf: (endpoint: string) => string, whileCut: number[] = [1, 2]): Promise<void> {
  const [host, port] = serverEndpoint.split(':') as [string, string];
  const proxy = await startTcpProxy(Number(port), host);
  const direct = await connect(urlOf(serverEndpoint));
  const proxied = await connect(urlOf(`127.0.0.1:${proxy.port}`));
  const name = `costs/reconnect-${Math.random().toString(36).slice(2, 8)}`;
  try {
    const holder = await direct.mutex(name).acquire();
    const giveUp = new AbortController();
    const ahead: (number | undefined)[] = [];
    const aheadWaiter = direct.mutex(name).acquire({ signal: giveUp.signal, onQueued: (position) => (ahead[0] = position) });
    aheadWaiter.catch(() => {});
    await until(() => ahead[0] === 0);
    const positions: (number | undefined)[] = [];
    const waiters = [0, 1].map((i) => {
      const waiter = proxied.mutex(name).acquire({ onQueued: (position) => (positions[i] = position) });
      waiter.catch(() => {});
      return waiter;
    });
    await until(() => positions[0] === 1 && positions[1] === 2);

    proxy.refuse();
    giveUp.abort();
    await aheadWaiter.catch(() => {});
    const newcomer = direct.mutex(name).acquire();
    newcomer.catch(() => {});
    await keysUntil(direct, name, (keys) => keys.length === 4, 20_000);
    await until(() => positions[0] === whileCut[0] && positions[1] === whileCut[1], () => `positions while cut off: ${positions}`, 20_000);
    expect(positions, 'while cut off').toEqual(whileCut);
    proxy.restore();

    await until(() => positions[0] === 0 && positions[1] === 1, () => `positions after the link came back: ${positions} (1,2 before)`, 20_000);
    await holder.release();
    await (await (waiters[0] as Promise<Lease>)).release();
    await (await (waiters[1] as Promise<Lease>)).release();
    await (await newcomer).release();
  } finally {
    await Promise.all([direct.close(), proxied.close()]);
    await proxy.close();
  }
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

  it('positions are right again after the link to the server was cut while the queue changed', async () => {
    await positionsAfterReconnect(servers!.endpoints[0] as string, (endpoint) => `etcd://${endpoint}?ttl=30`);
  }, 120_000);
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

  it('positions are right again after the link to the server was cut while the queue changed', async () => {
    await positionsAfterReconnect(servers!.endpoints[0] as string, (endpoint) => `zookeeper://${endpoint}?sessionTimeout=20000`, [0, 1]);
  }, 120_000);
});
