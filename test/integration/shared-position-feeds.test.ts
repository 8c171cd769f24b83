/**
 * Queue positions are followed once per process per queue, not once per coordinator: coordinators
 * that reach etcd or ZooKeeper the same way share one position view per name and one feed of its
 * membership (Backend.followScope; etcd: the connection's watched view, ZooKeeper: one persistent
 * watch on one of their sessions, src/backends/zookeeper/feed-group.ts). Counted: with four
 * coordinators, each with waiters asking for positions, the process starts one feed (four before,
 * one per coordinator, each with a copy of the queue).
 *
 * The feed is no coordinator's: when the coordinator that started it closes, or (ZooKeeper) its
 * session is lost, the others' waiters go on being told right positions, including of changes
 * only a feed can tell (on ZooKeeper a node deleted by another client, which no waiter of this
 * process watches); and the waiter of the lost session is told of its own loss.
 */
import { randomUUID } from 'node:crypto';
import zookeeper from 'node-zookeeper-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend } from '../../src/backends/contract.js';
import { ClosedError, type Coordinator, connect, type Lease } from '../../src/index.js';
import { backendOf } from '../../src/testing.js';
import { type EtcdServers, localEtcdAvailable, startEtcd } from '../support/etcd-server.js';
import { until } from '../support/until.js';
import { rawClient } from '../support/zookeeper-inspect.js';
import { expireBackendSession, localZooKeeperAvailable, startZooKeeper, type ZooKeeperServers } from '../support/zookeeper-server.js';

const isCI = process.env.CI === 'true';
const unique = (label: string) => `shared-feeds/${label}-${randomUUID().slice(0, 8)}`;

/** Counts the followPrefix calls made on `coords`' backends from now on. */
function countFeeds(coords: readonly Coordinator[]): { started: number } {
  const counts = { started: 0 };
  for (const coord of coords) {
    const backend = backendOf(coord) as Backend;
    const followPrefix = backend.followPrefix?.bind(backend);
    if (!followPrefix) throw new Error('the backend has no followPrefix');
    backend.followPrefix = (prefix, signal, follower) => {
      counts.started++;
      followPrefix(prefix, signal, follower);
    };
  }
  return counts;
}

/** A waiter with onQueued on `coord`, its reports recorded. */
function waiter(coord: Coordinator, name: string): { reports: number[]; lease: Promise<Lease> } {
  const reports: number[] = [];
  const lease = coord.mutex(name).acquire({ onQueued: (position) => reports.push(position) });
  lease.catch(() => {});
  return { reports, lease };
}

/**
 * Four coordinators of one URL, two waiters each with onQueued, behind a holder: one feed for the
 * process, every position right, before and after two handoffs.
 */
async function oneFeedForFour(url: string): Promise<void> {
  const coords = await Promise.all(Array.from({ length: 5 }, () => connect(url)));
  const [holderCoord, ...waiterCoords] = coords as [Coordinator, ...Coordinator[]];
  const feeds = countFeeds(coords);
  const name = unique('count');
  try {
    const holder = await holderCoord.mutex(name).acquire();
    const waiters: { reports: number[]; lease: Promise<Lease> }[] = [];
    for (let i = 0; i < 2 * waiterCoords.length; i++) {
      waiters.push(waiter(waiterCoords[i % waiterCoords.length] as Coordinator, name));
      await until(() => waiters[i]!.reports.length > 0, `waiter ${i}'s first report`);
    }
    await until(() => waiters.every((w, i) => w.reports.at(-1) === i), 'every waiter told where it stands');
    expect(feeds.started, 'position feeds started by the process').toBe(1);
    await holder.release();
    await (await waiters[0]!.lease).release();
    const second = await waiters[1]!.lease;
    await until(() => waiters.every((w, i) => i < 2 || w.reports.at(-1) === i - 2), 'every waiter told it moved up by two');
    await second.release();
    expect(feeds.started).toBe(1);
  } finally {
    await Promise.all(coords.map((c) => c.close()));
  }
}

const etcdWanted = localEtcdAvailable() || !!process.env.BATON_TEST_ETCD_ENDPOINTS || isCI;
describe.skipIf(!etcdWanted)('etcd: one position feed per process per name', () => {
  let servers: EtcdServers | undefined;
  beforeAll(async () => {
    servers = await startEtcd();
  }, 300_000);
  afterAll(() => servers?.stop());

  it('four coordinators sharing a connection start one feed, and every position is right', async () => {
    await oneFeedForFour(servers!.url({ ttl: 30 }));
  }, 120_000);

  it('the coordinator that started the feed closes: the others are still told each change', async () => {
    const url = servers!.url({ ttl: 30 });
    const [h, a, b, c] = await Promise.all([connect(url), connect(url), connect(url), connect(url)]);
    const name = unique('close');
    try {
      const holder = await h.mutex(name).acquire();
      // a's waiter asks first: its coordinator starts the feed.
      const first = waiter(a, name);
      await until(() => first.reports.at(-1) === 0, "a's waiter next in line");
      const second = waiter(b, name);
      await until(() => second.reports.at(-1) === 1, "b's waiter second");
      const third = waiter(c, name);
      await until(() => third.reports.at(-1) === 2, "c's waiter third");
      await a.close();
      await expect(first.lease).rejects.toBeInstanceOf(ClosedError);
      await until(() => second.reports.at(-1) === 0 && third.reports.at(-1) === 1, `positions after a closed (b ${second.reports}, c ${third.reports})`);
      await holder.release();
      const held = await second.lease;
      // Only the feed tells c that b's waiter now holds: c's waiter is next in line.
      await until(() => third.reports.at(-1) === 0, `c's waiter after the handoff (${third.reports})`);
      await held.release();
      await (await third.lease).release();
      expect(third.reports.every((p, k) => k === 0 || p < (third.reports[k - 1] as number)), `c's reports ${third.reports}`).toBe(true);
    } finally {
      await Promise.all([h, a, b, c].map((coord) => coord.close()));
    }
  }, 120_000);
});

const zookeeperWanted = localZooKeeperAvailable() || !!process.env.BATON_TEST_ZOOKEEPER_ENDPOINTS || isCI;
describe.skipIf(!zookeeperWanted)('ZooKeeper: one position feed per process per name', () => {
  let servers: ZooKeeperServers | undefined;
  let raw: zookeeper.Client | undefined;
  beforeAll(async () => {
    servers = await startZooKeeper(1);
    raw = await rawClient(servers!, { sessionTimeout: 30_000 });
  }, 300_000);
  afterAll(async () => {
    raw?.close();
    await servers?.stop();
  });

  /** Creates a contender node of another client (Curator's protected name) under `name`; its path. */
  const outsider = (name: string) =>
    new Promise<string>((resolve, reject) =>
      raw!.create(`/${name}/_c_${randomUUID()}-lock-`, Buffer.alloc(0), zookeeper.CreateMode.EPHEMERAL_SEQUENTIAL, (error, path) => (error ? reject(error) : resolve(path))),
    );
  const remove = (path: string) => new Promise<void>((resolve, reject) => raw!.remove(path, (error) => (error ? reject(error) : resolve())));

  /**
   * A holder and two nodes of another client, then waiters of a (which starts the feed), b and c.
   * `lose(a)` takes a away; then the other client's first waiting node is deleted: no waiter of
   * the process watches it (the other client's second node is the only one behind it), so only
   * a live feed can tell b and c that they moved up.
   */
  async function feedOutlives(lose: (a: Coordinator, first: { lease: Promise<Lease> }) => Promise<void>): Promise<void> {
    const url = `zookeeper://${servers!.endpoints[0]}?sessionTimeout=10000`;
    const [h, a, b, c] = await Promise.all([connect(url), connect(url), connect(url), connect(url)]);
    const name = unique('handover');
    try {
      const holder = await h.mutex(name).acquire();
      const ahead = await outsider(name);
      await outsider(name);
      const first = waiter(a, name);
      await until(() => first.reports.at(-1) === 2, `a's waiter behind the other client's two (${first.reports})`);
      const second = waiter(b, name);
      await until(() => second.reports.at(-1) === 3, `b's waiter (${second.reports})`);
      const third = waiter(c, name);
      await until(() => third.reports.at(-1) === 4, `c's waiter (${third.reports})`);
      await lose(a, first);
      // a's node is gone: b's blocker, whose wait tells the process.
      await until(() => second.reports.at(-1) === 2 && third.reports.at(-1) === 3, `after a went (b ${second.reports}, c ${third.reports})`);
      await remove(ahead);
      await until(() => second.reports.at(-1) === 1 && third.reports.at(-1) === 2, `after the other client's node went (b ${second.reports}, c ${third.reports})`);
      for (const reports of [second.reports, third.reports]) expect(reports.every((p, k) => k === 0 || p < (reports[k - 1] as number)), `reports ${reports}`).toBe(true);
      await holder.release();
    } finally {
      await Promise.all([h, a, b, c].map((coord) => coord.close()));
    }
  }

  it('four coordinators of one URL start one feed, and every position is right', async () => {
    await oneFeedForFour(`zookeeper://${servers!.endpoints[0]}?sessionTimeout=30000`);
  }, 120_000);

  it('the coordinator that started the feed closes: the feed goes on through another session', async () => {
    await feedOutlives(async (a, first) => {
      await a.close();
      await expect(first.lease).rejects.toBeInstanceOf(ClosedError);
    });
  }, 120_000);

  it("the feeding coordinator's session is lost: its waiter is told so, and the feed goes on through another session", async () => {
    await feedOutlives(async (a, first) => {
      await expireBackendSession(backendOf(a));
      await expect(first.lease).rejects.toThrow(/session|lost|expired/i);
    });
  }, 120_000);
});
