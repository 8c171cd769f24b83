/**
 * A change under a prefix re-checks only the waits on the keys it changed, not every wait on the
 * prefix's view. Counted, not timed: the views' wait checks (a counter on the view registry).
 * With N waiters queued on one mutex in ONE coordinator (the holder in another), a few handoffs
 * are made; the checks per handoff must be the same for N = 10 and N = 1000. (Before, every
 * watch event re-checked every pending wait of the view, each waiter's wait for its predecessor
 * and each own-key watch: O(N) per event, O(N^2) to drain a queue.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EtcdBackend } from '../../src/backends/etcd/backend.js';
import type { Backend } from '../../src/backends/contract.js';
import { type Coordinator, connect, type Lease } from '../../src/index.js';
import { backendOf } from '../../src/testing.js';
import { untilQueue } from '../interop/peers.js';
import { type EtcdServers, localEtcdAvailable, startEtcd } from '../support/etcd-server.js';
import { until } from '../support/until.js';

const HANDOFFS = 5;
const isCI = process.env.CI === 'true';

/** Queues `waiters` contenders in one coordinator behind a holder in another; wait checks per handoff. */
async function checksPerHandoff(url: string, waiters: number, withPositions: boolean): Promise<number> {
  const holderCoord = await connect(url);
  const waiterCoord = await connect(url);
  const views = (backendOf(waiterCoord) as EtcdBackend).views;
  const name = `costs/checks-${waiters}-${Math.random().toString(36).slice(2, 8)}`;
  const stop = new AbortController();
  try {
    const holder = await holderCoord.mutex(name).acquire();
    const positions: (number | undefined)[] = [];
    const granted: Lease[] = [];
    for (let i = 0; i < waiters; i++) {
      const onQueued = withPositions ? (position: number) => (positions[i] = position) : undefined;
      const lease = waiterCoord.mutex(name).acquire({ signal: stop.signal, onQueued });
      lease.then((held) => granted.push(held), () => {});
    }
    await untilQueue(backendOf(holderCoord) as Backend, name, (entries) => entries.length === waiters + 1);
    // Every waiter has armed its waits once it reports its place (or, without reports, once the
    // view has settled: its checks stop moving).
    if (withPositions) await until(() => positions.length === waiters && positions.every((p, i) => p === i));
    await settled(() => views.checks);

    const before = views.checks;
    await holder.release();
    for (let k = 0; k < HANDOFFS; k++) {
      await until(() => granted.length > k);
      if (k < HANDOFFS - 1) await (granted[k] as Lease).release();
    }
    if (withPositions) await until(() => positions.every((p, i) => i < HANDOFFS || p === i - HANDOFFS));
    const after = views.checks;
    expect(granted, 'one grant per release, none more').toHaveLength(HANDOFFS);
    return (after - before) / HANDOFFS;
  } finally {
    stop.abort();
    await Promise.all([holderCoord.close(), waiterCoord.close()]);
  }
}

/** Resolves once `read()` gives the same value twice 200 ms apart. */
async function settled(read: () => number): Promise<void> {
  let last = read();
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    const now = read();
    if (now === last) return;
    last = now;
  }
}

const etcdWanted = localEtcdAvailable() || !!process.env.BATON_TEST_ETCD_ENDPOINTS || isCI;
describe.skipIf(!etcdWanted)('etcd: a view re-checks only the waits on the keys a change touched', () => {
  let servers: EtcdServers | undefined;
  beforeAll(async () => {
    servers = await startEtcd();
  }, 300_000);
  afterAll(() => servers?.stop());

  for (const withPositions of [false, true]) {
    it(`the same wait checks per handoff with 10 and 1000 waiters in one coordinator${withPositions ? ', every one with onQueued' : ''}`, async () => {
      const url = servers!.url({ ttl: 30 });
      const small = await checksPerHandoff(url, 10, withPositions);
      const large = await checksPerHandoff(url, 1000, withPositions);
      expect(large, `wait checks per handoff: ${small} with 10 waiters, ${large} with 1000`).toBe(small);
    }, 300_000);
  }
});
