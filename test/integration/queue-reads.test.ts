/**
 * Entering a queue and being woken in it read a bounded number of keys, not the queue: a mutex
 * waiter reads its standing (the head and the key just ahead), where the backend can, instead of
 * the listing. Counted, not timed: the keys the memory store hands out (its keysRead counter),
 * and the keys etcd sends back to the waiters' coordinators (every range answer, in a
 * transaction or not). With N waiters queued behind a holder over four coordinators, the last
 * few enter one at a time and then a few handoffs are made, each waking a waiter that was not
 * second in line when it entered; the keys read per enqueue and per handoff must be the same for
 * N = 10 and N = 1000. (Before, an enqueue read all N keys and such a wake-up listed the queue
 * again: O(N) each, O(N^2) to fill and drain a queue.) On etcd the waiters read no key at all.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EtcdBackend } from '../../src/backends/etcd/backend.js';
import type { MemoryBackend } from '../../src/backends/memory/index.js';
import type { RangeResponse, TxnResponse } from '../../src/backends/etcd/transport/messages.js';
import { type Coordinator, connect, type Lease } from '../../src/index.js';
import { backendOf } from '../../src/testing.js';
import { type EtcdServers, localEtcdAvailable, startEtcd } from '../support/etcd-server.js';
import { until } from '../support/until.js';

const COORDINATORS = 4;
/** Waiters that enter one at a time, behind the others, while counted. */
const LAST = 5;
const HANDOFFS = 5;
const isCI = process.env.CI === 'true';

/** Counts the keys read by the waiters' coordinators. */
interface Meter {
  /** Starts counting the reads of `coord`. */
  attach(coord: Coordinator): void;
  /** Keys read so far, once every read sent is answered. */
  read(): Promise<number>;
}

interface Reads {
  perEnqueue: number;
  perHandoff: number;
}

async function keysRead(url: string, meter: Meter, waiters: number): Promise<Reads> {
  const coords: Coordinator[] = [];
  for (let i = 0; i < COORDINATORS + 1; i++) coords.push(await connect(url));
  const [holderCoord, ...waiterCoords] = coords as [Coordinator, ...Coordinator[]];
  for (const coord of waiterCoords) meter.attach(coord);
  const name = `costs/reads-${waiters}-${Math.random().toString(36).slice(2, 8)}`;
  try {
    const holder = await holderCoord.mutex(name).acquire();
    // Positions only tell when a waiter is in line (each coordinator follows the queue once).
    const positions: (number | undefined)[] = [];
    const granted: Lease[] = [];
    const enter = (i: number) => {
      const lease = (waiterCoords[i % COORDINATORS] as Coordinator).mutex(name).acquire({ onQueued: (position) => (positions[i] = position) });
      lease.then((held) => granted.push(held), () => {});
    };
    for (let i = 0; i < waiters - LAST; i++) enter(i);
    await until(() => positions.filter((p) => p !== undefined).length === waiters - LAST);

    const beforeEnqueues = await meter.read();
    for (let i = waiters - LAST; i < waiters; i++) {
      enter(i);
      await until(() => positions[i] === i);
    }
    const afterEnqueues = await meter.read();

    // Each handoff after the first wakes a waiter that entered third or later in line.
    await holder.release();
    for (let k = 0; k < HANDOFFS; k++) {
      await until(() => granted.length > k);
      if (k < HANDOFFS - 1) await (granted[k] as Lease).release();
    }
    const afterHandoffs = await meter.read();
    expect(granted, 'one grant per release, none more').toHaveLength(HANDOFFS);
    return { perEnqueue: (afterEnqueues - beforeEnqueues) / LAST, perHandoff: (afterHandoffs - afterEnqueues) / HANDOFFS };
  } finally {
    await Promise.all(coords.map((c) => c.close()));
  }
}

function expectBounded(small: Reads, large: Reads): void {
  const figures = `keys read: ${JSON.stringify(small)} with 10 waiters, ${JSON.stringify(large)} with 1000`;
  expect(large, figures).toEqual(small);
  // The head, the key just ahead and the own key, at most.
  expect(large.perEnqueue, figures).toBeLessThanOrEqual(3);
  expect(large.perHandoff, figures).toBeLessThanOrEqual(3);
}

describe('memory: keys read per enqueue and per wake-up with 10 and 1000 waiters', () => {
  it('the same, and at most three', async () => {
    let store: MemoryBackend | undefined;
    const meter: Meter = {
      attach: (coord) => void (store ??= backendOf(coord) as MemoryBackend),
      // The store counts as it answers; one turn of the event loop lets answers on their way land.
      read: async () => {
        await new Promise((resolve) => setImmediate(resolve));
        return (store as MemoryBackend).stats().keysRead;
      },
    };
    // The store is shared by the process: only the waiters' reads may happen while counting.
    const small = await keysRead('memory://', meter, 10);
    const large = await keysRead('memory://', meter, 1000);
    expectBounded(small, large);
  }, 60_000);
});

const etcdWanted = localEtcdAvailable() || !!process.env.BATON_TEST_ETCD_ENDPOINTS || isCI;
describe.skipIf(!etcdWanted)('etcd: keys sent back per enqueue and per wake-up with 10 and 1000 waiters', () => {
  let servers: EtcdServers | undefined;
  beforeAll(async () => {
    servers = await startEtcd();
  }, 300_000);
  afterAll(() => servers?.stop());

  /** Counts the keys in every range answer the attached coordinators' clients receive. */
  function etcdMeter(): Meter {
    let keys = 0;
    let inFlight = 0;
    const attached = new WeakSet<object>();
    const counted = <T>(call: Promise<T>, count: (answer: T) => number): Promise<T> => {
      inFlight++;
      return call.then(
        (answer) => {
          inFlight--;
          keys += count(answer);
          return answer;
        },
        (error: unknown) => {
          inFlight--;
          throw error;
        },
      );
    };
    return {
      attach(coord) {
        const client = (backendOf(coord) as EtcdBackend).client;
        // Coordinators of one process share their client (docs/etcd.md): counted once, it counts
        // every read over the connection (the holder's too, which reads none).
        if (attached.has(client)) return;
        attached.add(client);
        const range = client.range.bind(client);
        client.range = (req, options) => counted(range(req, options), (res: RangeResponse) => res.kvs.length);
        const keysIn = (res: TxnResponse) => res.responses.reduce((sum, op) => sum + (op.kind === 'range' ? op.range.kvs.length : 0), 0);
        const txn = client.txn.bind(client);
        client.txn = (req, options) => counted(txn(req, options), keysIn);
        // The enqueue's transaction, encoded once per name and sent as it is.
        const txnEncoded = client.txnEncoded.bind(client);
        client.txnEncoded = (body, options) => counted(txnEncoded(body, options), keysIn);
      },
      async read() {
        await until(() => inFlight === 0);
        return keys;
      },
    };
  }

  it('the same, and at most three', async () => {
    const url = servers!.url({ ttl: 30 });
    const small = await keysRead(url, etcdMeter(), 10);
    const large = await keysRead(url, etcdMeter(), 1000);
    expectBounded(small, large);
    // None, in fact: an enqueue counts the name's keys (etcd counts its index) and takes its
    // standing from the coordinator's view; a woken waiter is handed its standing by the view.
    // A range sorted by creation, which sent back up to three keys, made etcd sort all of them.
    expect(large, `keys read with 1000 waiters: ${JSON.stringify(large)}`).toEqual({ perEnqueue: 0, perHandoff: 0 });
  }, 300_000);
});
