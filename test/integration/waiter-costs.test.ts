/**
 * What a handoff costs does not grow with the number of waiters. Counted, not timed: memory's
 * operation and wake-up counters, ZooKeeper's `mntr` packets received, etcd's gRPC messages
 * received (/metrics). With N waiters queued behind a holder (spread over a few coordinators),
 * three handoffs are made; the cost per handoff must be the same for N = 10 and N = 1000, both
 * when no waiter asks for its position (a release wakes its successor only) and when every waiter
 * does (each coordinator follows the queue once for all of its waiters). No run may draw a
 * MaxListenersExceededWarning: Baton's own signals carry one listener whatever the queue length.
 */
import { setMaxListeners } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend } from '../../src/backends/contract.js';
import type { MemoryBackend } from '../../src/backends/memory/index.js';
import { type Coordinator, connect, type Lease } from '../../src/index.js';
import { backendOf } from '../../src/testing.js';
import { untilQueue } from '../interop/peers.js';
import { type EtcdServers, localEtcdAvailable, startEtcd } from '../support/etcd-server.js';
import { localZooKeeperAvailable, startZooKeeper, type ZooKeeperServers } from '../support/zookeeper-server.js';
import { until } from '../support/until.js';

const COORDINATORS = 4;
const HANDOFFS = 3;
const isCI = process.env.CI === 'true';

/** A counter of what the server (or the memory store) did; `read()` is its current total. */
interface Meter {
  readonly label: string;
  read(): Promise<Record<string, number>>;
}

interface Run {
  /** Per handoff, by counter. */
  perHandoff: Record<string, number>;
}

/**
 * Queues `waiters` contenders behind one holder, over COORDINATORS coordinators, with or without
 * onQueued, then counts what HANDOFFS handoffs cost.
 */
async function measure(url: string, meter: Meter, waiters: number, withPositions: boolean): Promise<Run> {
  const coords: Coordinator[] = [];
  for (let i = 0; i < COORDINATORS + 1; i++) coords.push(await connect(url));
  const [holderCoord, ...waiterCoords] = coords as [Coordinator, ...Coordinator[]];
  const name = `costs/waiters-${waiters}-${withPositions ? 'positions' : 'plain'}-${Math.random().toString(36).slice(2, 8)}`;
  const stop = new AbortController();
  // The waiters share this one caller signal, and each acquire adds a listener to it while it
  // waits (README, "Each call adds one `abort` listener"): raised here, so that a warning left is
  // one about Baton's own signals.
  setMaxListeners(waiters, stop.signal);
  const warnings: string[] = [];
  const onWarning = (warning: Error) => {
    if (warning.name === 'MaxListenersExceededWarning') warnings.push(`${warning.message}\n${warning.stack}`);
  };
  process.on('warning', onWarning);
  try {
    const holder = await holderCoord.mutex(name).acquire();
    const positions: (number | undefined)[] = [];
    const leases: Promise<Lease>[] = [];
    for (let i = 0; i < waiters; i++) {
      const onQueued = withPositions ? (position: number) => (positions[i] = position) : undefined;
      const lease = (waiterCoords[i % COORDINATORS] as Coordinator).mutex(name).acquire({ signal: stop.signal, onQueued });
      lease.catch(() => {});
      leases.push(lease);
      // The first few enter in a known order (they take the handoffs): wait for each one's key,
      // or its first report. The rest only need to be in line, behind them.
      if (withPositions) await until(() => positions[i] !== undefined);
      else if (i < HANDOFFS) await untilQueue(backendOf(holderCoord) as Backend, name, (entries) => entries.length === i + 2);
    }
    if (!withPositions) await untilQueue(backendOf(holderCoord) as Backend, name, (entries) => entries.length === waiters + 1);
    // Every key is there, but the last waiters' entering requests (reads, watches) may still be
    // on their way: start counting once the server's counter has stopped moving.
    await quiet(meter);
    // Every waiter has reported where it stands: the coordinators follow the queue.
    if (withPositions) await until(() => positions.every((p, i) => p === i) && positions.length === waiters);

    const before = await meter.read();
    await holder.release();
    for (let k = 0; k < HANDOFFS; k++) {
      const lease = await (leases[k] as Promise<Lease>);
      if (k < HANDOFFS - 1) await lease.release();
    }
    // And every waiter still in line has heard that it moved up.
    if (withPositions) await until(() => positions.every((p, i) => i < HANDOFFS || p === i - HANDOFFS));
    const after = await meter.read();
    // A warning is emitted on a later tick than the listener that drew it: let that tick run.
    await new Promise((resolve) => setImmediate(resolve));
    expect(warnings).toEqual([]);
    const perHandoff: Record<string, number> = {};
    for (const key of Object.keys(after)) perHandoff[key] = ((after[key] ?? 0) - (before[key] ?? 0)) / HANDOFFS;
    return { perHandoff };
  } finally {
    process.off('warning', onWarning);
    stop.abort();
    await Promise.all(coords.map((c) => c.close()));
  }
}

/** Resolves once two reads of `meter` 250 ms apart are equal, or after 20 s (then the counts decide). */
async function quiet(meter: Meter): Promise<void> {
  let last = JSON.stringify(await meter.read());
  for (let tries = 0; tries < 80; tries++) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    const now = JSON.stringify(await meter.read());
    if (now === last) return;
    last = now;
  }
}

function expectSameCost(small: Run, large: Run, slack: number): void {
  for (const key of Object.keys(small.perHandoff)) {
    expect(Math.abs((large.perHandoff[key] ?? 0) - (small.perHandoff[key] ?? 0)), `${key} per handoff: ${small.perHandoff[key]} with 10 waiters, ${large.perHandoff[key]} with 1000`).toBeLessThanOrEqual(slack);
  }
}

describe('memory: cost per handoff with 10 and 1000 waiters', () => {
  const meter = (coord: Coordinator): Meter => ({
    label: 'memory',
    read: async () => {
      const stats = (backendOf(coord) as MemoryBackend).stats();
      const requests = Object.values(stats.operations).reduce((a, b) => a + b, 0);
      return { requests, wakeups: stats.wakeups };
    },
  });
  let probe: Coordinator;
  beforeAll(async () => {
    probe = await connect('memory://');
  });
  afterAll(() => probe.close());

  it('without onQueued: one wake-up per handoff, whatever the queue length', async () => {
    const small = await measure('memory://', meter(probe), 10, false);
    const large = await measure('memory://', meter(probe), 1000, false);
    expect(small.perHandoff.wakeups).toBe(1);
    expectSameCost(small, large, 0);
  }, 60_000);

  it('with onQueued on every waiter: the same requests and wake-ups per handoff for 10 and 1000 waiters', async () => {
    const small = await measure('memory://', meter(probe), 10, true);
    const large = await measure('memory://', meter(probe), 1000, true);
    expectSameCost(small, large, 0);
  }, 60_000);
});

const zookeeperWanted = localZooKeeperAvailable() || !!process.env.BATON_TEST_ZOOKEEPER_ENDPOINTS || isCI;
describe.skipIf(!zookeeperWanted)('ZooKeeper: server requests per handoff with 10 and 1000 waiters', () => {
  let servers: ZooKeeperServers | undefined;
  beforeAll(async () => {
    servers = await startZooKeeper(1);
  }, 300_000);
  afterAll(() => servers?.stop());
  const meter = (): Meter => ({
    label: 'zookeeper',
    read: async () => {
      const mntr = await servers!.fourLetter(0, 'mntr');
      const received = /zk_packets_received\s+(\d+)/.exec(mntr ?? '')?.[1];
      if (received === undefined) throw new Error(`mntr gave no zk_packets_received: ${mntr}`);
      return { packets: Number(received) };
    },
  });
  // The sessions' heartbeats (a few seconds apart) may fall into a measured window.
  const slack = 2 / HANDOFFS;

  it('without onQueued', async () => {
    const url = servers!.url({ sessionTimeout: 30_000 });
    const small = await measure(url, meter(), 10, false);
    const large = await measure(url, meter(), 1000, false);
    expectSameCost(small, large, slack);
  }, 300_000);

  it('with onQueued on every waiter', async () => {
    const url = servers!.url({ sessionTimeout: 30_000 });
    const small = await measure(url, meter(), 10, true);
    const large = await measure(url, meter(), 1000, true);
    // Each coordinator lists once per change, but changes that land while a listing is on its
    // way share the next one: a handoff costs 4-6 packets either way (measured), not ~N.
    expectSameCost(small, large, 2);
  }, 300_000);
});

const etcdWanted = localEtcdAvailable() || !!process.env.BATON_TEST_ETCD_ENDPOINTS || isCI;
describe.skipIf(!etcdWanted)('etcd: server requests per handoff with 10 and 1000 waiters', () => {
  let servers: EtcdServers | undefined;
  beforeAll(async () => {
    servers = await startEtcd();
  }, 300_000);
  afterAll(() => servers?.stop());
  /** gRPC messages etcd received, by method, less lease keep-alives (timer-driven, not handoffs). */
  const meter = (): Meter => ({
    label: 'etcd',
    read: async () => {
      const text = await (await fetch(`http://${servers!.endpoints[0]}/metrics`)).text();
      let messages = 0;
      for (const match of text.matchAll(/^grpc_server_msg_received_total\{([^}]*)\} (\d+)/gm)) {
        if (!/grpc_method="LeaseKeepAlive"/.test(match[1] as string)) messages += Number(match[2]);
      }
      return { messages };
    },
  });

  it('without onQueued', async () => {
    const url = servers!.url({ ttl: 30 });
    const small = await measure(url, meter(), 10, false);
    const large = await measure(url, meter(), 1000, false);
    expectSameCost(small, large, 0);
  }, 300_000);

  it('with onQueued on every waiter', async () => {
    const url = servers!.url({ ttl: 30 });
    const small = await measure(url, meter(), 10, true);
    const large = await measure(url, meter(), 1000, true);
    expectSameCost(small, large, 0);
  }, 300_000);
});
