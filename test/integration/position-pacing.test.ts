/**
 * Position reports are paced on every backend (src/recipes/report-pacing.ts): a burst of
 * handoffs does not tell every waiter behind them its position once per handoff. WAITERS waiters
 * of one coordinator queue behind a holder, each with an onQueued that costs REPORT_COST_MS (a
 * listener that does real work: a log line to a slow terminal, a metric pushed), so telling all of
 * them takes about WAITERS milliseconds; then the holder releases and each waiter releases as
 * soon as it is granted. Reporting is kept to about a fortieth of the time, so the last waiter,
 * which sees every handoff, must get far fewer reports than handoffs; and every report must still be right when
 * made (between the waiters ahead counting releases begun and counting releases finished),
 * positions must only fall, and the last report before each grant must be 0.
 *
 * Before pacing reached etcd and ZooKeeper, a waiter there was told after every handoff (the last
 * one here: WAITERS reports).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Coordinator, connect } from '../../src/index.js';
import { type EtcdServers, localEtcdAvailable, startEtcd } from '../support/etcd-server.js';
import { localZooKeeperAvailable, startZooKeeper, type ZooKeeperServers } from '../support/zookeeper-server.js';

const WAITERS = 40;
const REPORT_COST_MS = 1;
const isCI = process.env.CI === 'true';

/** Works for `ms`: the cost of a listener, not a wait for anything. */
function busy(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

async function burstOfHandoffs(url: string): Promise<void> {
  const coord: Coordinator = await connect(url);
  const holderCoord: Coordinator = await connect(url);
  const name = `pacing/burst-${Math.random().toString(36).slice(2, 8)}`;
  try {
    const holder = await holderCoord.mutex(name).acquire();
    let started = 0; // releases begun
    let completed = 0; // releases finished
    const reports: number[][] = [];
    const wrong: string[] = [];
    const served: Promise<void>[] = [];
    for (let i = 0; i < WAITERS; i++) {
      const mine: number[] = [];
      reports.push(mine);
      let entered!: () => void;
      const queued = new Promise<void>((resolve) => (entered = resolve));
      const acquired = coord.mutex(name).acquire({
        onQueued: (position) => {
          const low = Math.max(0, i - started);
          const high = Math.max(0, i - completed);
          const last = mine.at(-1);
          if (position < low || position > high || (last !== undefined && position >= last)) wrong.push(`waiter ${i} told ${position} after ${last}; between ${low} and ${high} expected`);
          mine.push(position);
          busy(REPORT_COST_MS);
          entered();
        },
      });
      served.push(
        acquired.then(async (lease) => {
          if (mine.at(-1) !== 0) wrong.push(`waiter ${i} granted after last being told ${mine.at(-1)}`);
          started++;
          await lease.release();
          completed++;
        }),
      );
      // In line before the next one enters: the queue's order is the loop's.
      await queued;
    }
    started++;
    await holder.release();
    completed++;
    await Promise.all(served);
    expect(wrong).toEqual([]);
    const last = reports[WAITERS - 1] as number[];
    // Entering: WAITERS - 1; then as the queue moves. Paced: a few flushes during the burst.
    expect(last[0]).toBe(WAITERS - 1);
    expect(last.length, `the last waiter's reports: ${last}`).toBeLessThanOrEqual(Math.floor(WAITERS / 3));
  } finally {
    await Promise.all([coord.close(), holderCoord.close()]);
  }
}

describe('position reports under a burst of handoffs', () => {
  it('memory: fewer reports than handoffs, every one right, 0 last', async () => {
    await burstOfHandoffs('memory://');
  }, 60_000);

  const etcdWanted = localEtcdAvailable() || !!process.env.BATON_TEST_ETCD_ENDPOINTS || isCI;
  describe.skipIf(!etcdWanted)('etcd', () => {
    let servers: EtcdServers | undefined;
    beforeAll(async () => {
      servers = await startEtcd();
    }, 300_000);
    afterAll(() => servers?.stop());

    it('fewer reports than handoffs, every one right, 0 last', async () => {
      await burstOfHandoffs(servers!.url({ ttl: 30 }));
    }, 120_000);
  });

  const zookeeperWanted = localZooKeeperAvailable() || !!process.env.BATON_TEST_ZOOKEEPER_ENDPOINTS || isCI;
  describe.skipIf(!zookeeperWanted)('ZooKeeper', () => {
    let servers: ZooKeeperServers | undefined;
    beforeAll(async () => {
      servers = await startZooKeeper(1);
    }, 300_000);
    afterAll(() => servers?.stop());

    it('fewer reports than handoffs, every one right, 0 last', async () => {
      await burstOfHandoffs(servers!.url({ sessionTimeout: 30_000 }));
    }, 120_000);
  });
});
