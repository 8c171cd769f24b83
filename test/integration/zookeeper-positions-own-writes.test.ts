/**
 * A ZooKeeper coordinator's position reports follow the deletions this process knows of, not
 * only its own notifications (issue 11; src/backends/zookeeper/known-deletions.ts). Two
 * coordinators on one server: A directly, B through a proxy the test controls. B's waiter stands
 * behind A's holder and two waiters of A. B's answers are held back; A's second waiter gives up,
 * then A releases its hold (awaited: its delete confirmed). B has read neither deletion, yet it is
 * told at once that it is next in line (a view that waited for its own notifications said nothing
 * until they came), and no report of B from the release on, before or after its notifications
 * arrive, counts a node already gone.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keysUntil } from '../support/keys-until.js';
import { positionsScene } from '../support/positions-scene.js';
import { localZooKeeperAvailable, startZooKeeper, type ZooKeeperServers } from '../support/zookeeper-server.js';
import { until } from '../support/until.js';

// B's link goes through a proxy this file starts: local servers only (fails under CI without one).
const wanted = localZooKeeperAvailable() || process.env.CI === 'true';

describe.skipIf(!wanted)('ZooKeeper: position reports while this coordinator lags behind deletions the process knows of', () => {
  let servers: ZooKeeperServers | undefined;
  beforeAll(async () => {
    servers = await startZooKeeper(1, { needControl: true });
  }, 120_000);
  afterAll(() => servers?.stop());

  it('follow the deletions the process knows of while this coordinator notifications lag behind them', async () => {
    const chroot = `/own-writes-${randomUUID().slice(0, 8)}`;
    const name = 'lock';
    const scene = await positionsScene(servers!.endpoints[0] as string, (endpoint) => `zookeeper://${endpoint}${chroot}?sessionTimeout=30000`, name);
    const { a, b, proxy, holder, next, giveUp, quitter, quitterKey, waiter, reports } = scene;
    try {
      proxy.holdAnswers();
      giveUp.abort();
      await quitter.catch(() => {});
      await keysUntil(a, name, (keys) => !keys.includes(quitterKey));
      await holder.release();
      const afterRelease = reports.length;
      // Truth from here on: A's next waiter holds, B's waiter is next in line (0). B's answers
      // are all still held: it knows of both deletions from the process alone.
      await until(() => reports.at(-1) === 0, () => `B's waiter told 0 (reports ${reports})`);
      proxy.releaseAnswers();
      // B's own notifications of both deletions, and its waiter's listing, come now.
      await keysUntil(b, name, (keys) => keys.length === 2);
      expect(reports.slice(afterRelease).filter((position) => position !== 0), `reports after the release resolved (all: ${reports})`).toEqual([]);

      await (await next).release();
      await (await waiter).release();
    } finally {
      await scene.close();
    }
  }, 120_000);
});
