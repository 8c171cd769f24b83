/**
 * On ZooKeeper, a position report made after a release resolved in this process never counts the
 * released key, even when the release was another coordinator's (another session, whose
 * notification reaches this one's a moment after the releaser's answer). Reports are made on a
 * timer (src/recipes/report-pacing.ts), so a flush can come between the release's answer and the
 * notification: the process tells the views that still show a key confirmed gone, and they hold
 * their reports until they show its deletion (QueueView.confirmedGone).
 *
 * Two coordinators: A directly, B through a proxy the test controls. B's waiter stands behind
 * A's holder and two waiters of A, the second of which gives up. The pacer is made busy first (a slow onQueued on a
 * memory queue: the next flush comes about a second later). B is given the giving up, then A
 * releases (awaited) while B's answers are held: B's view still has the holder when its flush
 * comes. Every report from the release on must be 0 (B next in line). Without the hold, B said 1
 * after the release had resolved.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Coordinator, connect } from '../../src/index.js';
import { positionsScene } from '../support/positions-scene.js';
import { until } from '../support/until.js';
import { localZooKeeperAvailable, startZooKeeper, type ZooKeeperServers } from '../support/zookeeper-server.js';

const wanted = localZooKeeperAvailable() || !!process.env.BATON_TEST_ZOOKEEPER_ENDPOINTS || process.env.CI === 'true';

/** Works for `ms`: a listener's cost, which the pacer spaces the next flush by. */
function busy(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

describe.skipIf(!wanted)('ZooKeeper: position reports after another coordinator of the process released', () => {
  let servers: ZooKeeperServers | undefined;
  beforeAll(async () => {
    servers = await startZooKeeper(1);
  }, 300_000);
  afterAll(() => servers?.stop());

  it('do not count the released key while this coordinator has not heard of the release', async () => {
    const name = `other-coordinator/${Math.random().toString(36).slice(2, 8)}`;
    const scene = await positionsScene(servers!.endpoints[0] as string, (endpoint) => `zookeeper://${endpoint}?sessionTimeout=30000`, name);
    const { a, proxy, holder, next, giveUp, quitter, quitterKey, waiter, reports } = scene;
    const memory: Coordinator = await connect('memory://');
    try {

      // The pacer made busy: a flush that takes 60 ms puts the next one about a second later.
      // Memory queue: a holder, `first` (next in line), `slow` (its first report costs 60 ms) and
      // `last`, whose reports tell when a paced flush has run.
      const busyHolder = await memory.mutex(name).acquire();
      const first = memory.mutex(name).acquire();
      let slowCalls = 0;
      const slow = memory.mutex(name).acquire({ onQueued: () => slowCalls++ === 0 && busy(60) });
      const lastReports: number[] = [];
      const last = memory.mutex(name).acquire({ onQueued: (position) => lastReports.push(position) });
      for (const pending of [first, slow, last]) pending.catch(() => {});
      await until(() => slowCalls > 0 && lastReports.length > 0, 'the memory waiters told their positions', 20_000);

      proxy.holdAnswers();
      giveUp.abort();
      await quitter.catch(() => {});
      await until(() => proxy.holdsAnswerWith(Buffer.from(quitterKey.slice(quitterKey.lastIndexOf('/') + 1))), "the proxy holds the answer naming the quitter's node", 20_000);
      // B hears of the giving up (its flush is asked for, and comes with the next paced one),
      // and of nothing after it.
      proxy.releaseHeldAnswers();
      await holder.release();
      const afterRelease = reports.length;
      // The next paced flush, B's with it, has run once `last` is told it moved up.
      await busyHolder.release();
      await until(() => lastReports.at(-1) === 1, () => `the last memory waiter told 1 (reports ${lastReports})`, 20_000);
      proxy.releaseAnswers();
      // Truth from the release on: A's next waiter holds, B's waiter is next in line (0).
      await until(() => reports.at(-1) === 0, () => `B's waiter told 0 (reports ${reports})`, 20_000);
      // The 0 may come before the release resolves (the process applies a deletion it saw
      // confirmed to every view at once: src/backends/zookeeper/known-deletions.ts): nothing else may come after.
      expect(reports.slice(afterRelease).filter((position) => position !== 0), `reports after the release resolved (all: ${reports})`).toEqual([]);

      await (await next).release();
      await (await waiter).release();
      await (await first).release();
      await (await slow).release();
      await (await last).release();
    } finally {
      await Promise.all([scene.close(), memory.close()]);
    }
  }, 120_000);
});
