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
import { connect, type Coordinator } from '../../src/index.js';
import { keysUntil } from '../support/keys-until.js';
import { startTcpProxy } from '../support/tcp-proxy.js';
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
    const [host, port] = (servers!.endpoints[0] as string).split(':') as [string, string];
    const proxy = await startTcpProxy(Number(port), host);
    const chroot = `/own-writes-${randomUUID().slice(0, 8)}`;
    const a: Coordinator = await connect(`zookeeper://${servers!.endpoints[0]}${chroot}?sessionTimeout=30000`);
    const b: Coordinator = await connect(`zookeeper://127.0.0.1:${proxy.port}${chroot}?sessionTimeout=30000`);
    const name = 'lock';
    try {
      const holder = await a.mutex(name).acquire();
      const next = a.mutex(name).acquire();
      const giveUp = new AbortController();
      const quitter = a.mutex(name).acquire({ signal: giveUp.signal });
      quitter.catch(() => {});
      await keysUntil(a, name, (keys) => keys.length === 3);
      const reports: number[] = [];
      const waiter = b.mutex(name).acquire({ onQueued: (position) => reports.push(position) });
      waiter.catch(() => {});
      // Behind the holder and two waiters: 2 waiters ahead.
      await until(() => reports.at(-1) === 2);
      const [, , quitterKey] = (await keysUntil(a, name, (keys) => keys.length === 4)) as [string, string, string, string];

      proxy.holdAnswers();
      giveUp.abort();
      await quitter.catch(() => {});
      await keysUntil(a, name, (keys) => !keys.includes(quitterKey));
      await holder.release();
      const afterRelease = reports.length;
      // Truth from here on: A's next waiter holds, B's waiter is next in line (0). B's answers
      // are all still held: it knows of both deletions from the process alone.
      await until(() => reports.at(-1) === 0);
      proxy.releaseAnswers();
      // B's own notifications of both deletions, and its waiter's listing, come now.
      await keysUntil(b, name, (keys) => keys.length === 2);
      expect(reports.slice(afterRelease).filter((position) => position !== 0), `reports after the release resolved (all: ${reports})`).toEqual([]);

      await (await next).release();
      await (await waiter).release();
    } finally {
      await Promise.all([a.close(), b.close()]);
      await proxy.close();
    }
  }, 120_000);
});
