/**
 * What an uncontended acquire + release costs on ZooKeeper, counted by the server: the packets it
 * received from the session (`cons`). A process that takes and releases a lock nobody else wants
 * sends the create (a `create2`, whose answer carries the token) and the listing in one write, and
 * one delete: three requests per pair, the raw pair's two and the listing, and no write to the
 * parent. The listing also sets a child watch on the parent, which serves as the node's own-node
 * watch while it is alone: a deletion of the node by someone else is still reported, and so it is
 * once another contender joins (the hold then watches its node itself).
 * And what an acquire allocates besides its requests: AbortControllers and timers, counted by
 * replacing the globals while it runs.
 */
import { randomUUID } from 'node:crypto';
import zookeeper from 'node-zookeeper-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Coordinator, type Lease, type Mutex } from '../../src/index.js';
import { allocationsOf, leastAllocationsOf, leastPromisesOf } from '../support/allocations.js';
import { call, packetsDuring, rawClient, receivedFrom, sessionOf, watchesOf } from '../support/zookeeper-inspect.js';
import { startZooKeeper, type ZooKeeperServers } from '../support/zookeeper-server.js';
import { startTcpProxy } from '../support/tcp-proxy.js';
import { EventEmitter } from 'node:events';
import { until } from '../support/until.js';

const PAIRS = 40;
/** The promises an uncontended acquire + release may make (see the test that counts them). */
const PROMISES_PER_PAIR = 19;

let servers: ZooKeeperServers | undefined;
const opened: Coordinator[] = [];
const clients: zookeeper.Client[] = [];
beforeAll(async () => {
  servers = await startZooKeeper(1);
}, 120_000);
afterAll(async () => {
  await Promise.all(opened.map((coord) => coord.close()));
  for (const client of clients) client.close();
  await servers?.stop();
});

/** A coordinator whose heartbeat (every fifth of the session timeout) rarely falls into a count. */
async function open(chroot: string): Promise<Coordinator> {
  const coord = await connect(servers!.url({ chroot, sessionTimeout: 40_000 }));
  opened.push(coord);
  return coord;
}

/**
 * A mutex named `<label>-…` on a coordinator of its own (chroot `/baton-costs-<label>-<pid>`),
 * after three pairs of `pair` (acquire + release unless told): the first acquires learn the
 * parent (created, then seen alone) and the session's first release arms its removal timer, so
 * the pairs counted after them are the steady ones.
 */
async function warmedMutex(label: string, pair: (mutex: Mutex) => Promise<void> = async (mutex) => (await mutex.acquire()).release()) {
  const chroot = `/baton-costs-${label}-${process.pid}`;
  const coord = await open(chroot);
  const name = `${label}-${randomUUID().slice(0, 8)}`;
  const mutex = coord.mutex(name);
  for (let i = 0; i < 3; i++) await pair(mutex);
  return { chroot, coord, name, mutex };
}

/** A plain client of the same server, for another client's creates and deletes. */
async function otherClient(): Promise<zookeeper.Client> {
  const client = await rawClient(servers!, { sessionTimeout: 10_000 });
  clients.push(client);
  return client;
}

/** The EventEmitters made while `run` runs: every one runs EventEmitter.init from its constructor. */
async function emittersMadeDuring(run: () => Promise<unknown>): Promise<number> {
  const emitters = EventEmitter as unknown as { init: (this: EventEmitter, ...args: unknown[]) => unknown };
  const init = emitters.init;
  let made = 0;
  emitters.init = function (this: EventEmitter, ...args: unknown[]) {
    made++;
    return init.apply(this, args);
  };
  try {
    await run();
  } finally {
    emitters.init = init;
  }
  return made;
}

/** Resolves when `lease.signal` aborts, or rejects after 5 s. */
function lossOf(lease: Lease): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${lease.key}: no loss signalled within 5 s`)), 5000);
    lease.signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve(lease.signal.reason);
    });
  });
}

describe('allocations of an acquire on ZooKeeper', () => {
  it('an uncontended acquire + release makes no AbortController, not even its wait\'s never-aborting signal, and no timer: the removal attempt bounds itself', async (context) => {
    if (!servers) return context.skip();
    const { mutex } = await warmedMutex('alloc');
    // The least over a few pairs: a heartbeat falling inside one pair adds nothing here, but the
    // first release of a session arms its one removal-deadline timer.
    const least = await leastAllocationsOf(async () => (await mutex.acquire()).release());
    // Before, each release's removal attempt made an AbortController and a timer of its own:
    // { controllers: 2, timers: 1 }; then the acquire's never-aborting signal alone: 1. Now the
    // acquire enters on the one shared never-aborting signal (Backend.entersWithoutListening).
    expect(least).toEqual({ controllers: 0, timers: 0 });
  }, 30_000);

  it('an uncontended tryAcquire + release makes no AbortController and no timer either', async (context) => {
    if (!servers) return context.skip();
    const { mutex } = await warmedMutex('try', async (mutex) => (await mutex.tryAcquire())!.release());
    const least = await leastAllocationsOf(async () => (await mutex.tryAcquire())!.release());
    // Before, a try with no limits read its scope's signal, which made one: { controllers: 1 }.
    expect(least).toEqual({ controllers: 0, timers: 0 });
  }, 30_000);

  it('an uncontended tryRead or tryWrite + release makes no AbortController and no timer either', async (context) => {
    if (!servers) return context.skip();
    const coord = await open(`/baton-costs-rwtry-${process.pid}`);
    const rw = coord.readWriteLock(`rwtry-${randomUUID().slice(0, 8)}`);
    const readPair = async () => (await rw.tryRead())!.release();
    const writePair = async () => (await rw.tryWrite())!.release();
    for (let i = 0; i < 3; i++) await readPair(), await writePair();
    // Before, each try read its scope's signal, which made one: { controllers: 1 } for each.
    expect(await leastAllocationsOf(readPair)).toEqual({ controllers: 0, timers: 0 });
    expect(await leastAllocationsOf(writePair)).toEqual({ controllers: 0, timers: 0 });
  }, 30_000);

  it('an uncontended acquire + release takes few asynchronous steps: its promises, counted', async (context) => {
    if (!servers) return context.skip();
    const { mutex } = await warmedMutex('steps');
    const promises = await leastPromisesOf(async () => (await mutex.acquire()).release());
    console.log(`uncontended acquire + release: ${promises} promises`);
    // The requests' own: the create2's, the listing's and the delete's (3), and the two awaits of
    // the pair here (2, counted with the hook on). Before, an acquire + release went through 24
    // more: async layers each awaiting the next (entering, the session, the enqueue and its
    // create, Promise.allSettled over the create and the listing) and the removal's async attempt.
    // Then 24, until entering took one step (the enqueue's) with the session already open, and the
    // hold was made as the wait settled instead of in a reaction of its own: 19.
    expect(promises).toBeLessThanOrEqual(PROMISES_PER_PAIR);
  }, 30_000);

  it('an uncontended tryAcquire + release takes few asynchronous steps too: its promises, counted', async (context) => {
    if (!servers) return context.skip();
    const { mutex } = await warmedMutex('try-steps', async (mutex) => (await mutex.tryAcquire())!.release());
    const promises = await leastPromisesOf(async () => (await mutex.tryAcquire())!.release());
    console.log(`uncontended tryAcquire + release: ${promises} promises`);
    // 24 while entering awaited the open session and the enqueue inside an async function of its own.
    expect(promises).toBeLessThanOrEqual(PROMISES_PER_PAIR + 1);
  }, 30_000);

  it('an uncontended acquire + release makes no EventEmitter: its child watch is kept without one', async (context) => {
    if (!servers) return context.skip();
    const { mutex } = await warmedMutex('emitters');
    const made = await emittersMadeDuring(async () => {
      for (let i = 0; i < 10; i++) await (await mutex.acquire()).release();
    });
    // Before, the client made an emitter for the name's path with each listing's child watch (10).
    expect(made).toBe(0);
  }, 30_000);

  it('a waiter makes no AbortController for its own node: its blocker wait ends by itself when the own node is lost', async (context) => {
    if (!servers) return context.skip();
    const chroot = `/baton-costs-waiter-${process.pid}`;
    const name = `waiter-${randomUUID().slice(0, 8)}`;
    const holderCoord = await open(chroot);
    const waiterCoord = await open(chroot);
    for (const coord of [holderCoord, waiterCoord]) await (await coord.mutex(name).acquire()).release();
    const holder = await holderCoord.mutex(name).acquire();
    const waiterKeys = waiterCoord.mutex(name);
    const made = await allocationsOf(async () => {
      const waiting = waiterKeys.acquire();
      // The waiter is in line once the server holds its watch on the holder's node.
      const session = await sessionOf(waiterCoord);
      await until(async () => (await watchesOf(servers!, session)).includes(holder.key), 'the waiter watches the holder');
      await holder.release();
      await (await waiting).release();
    });
    // None. Before: its own node's AbortController (the signal its wait listened to), one per
    // release and the waiter's never-aborting signal: 4; then that never-aborting signal alone: 1.
    expect(made.controllers).toBe(0);
  }, 30_000);

  it('a waiter whose own node is deleted while it waits rejects with a LeaseLostError and is never granted', async (context) => {
    if (!servers) return context.skip();
    const chroot = `/baton-costs-lost-${process.pid}`;
    const name = `lost-${randomUUID().slice(0, 8)}`;
    const holderCoord = await open(chroot);
    const waiterCoord = await open(chroot);
    const holder = await holderCoord.mutex(name).acquire();
    const waiting = waiterCoord.mutex(name).acquire();
    waiting.catch(() => {});
    const session = await sessionOf(waiterCoord);
    await until(async () => (await watchesOf(servers!, session)).length === 2, 'the waiter watches its own node and the holder\'s');
    const own = (await watchesOf(servers!, session)).find((path) => path !== holder.key)!;
    const client = await otherClient();
    await call((cb) => client.remove(own, -1, (error) => cb(error)));
    await expect(waiting).rejects.toThrow(/deleted/);
    await holder.release();
  }, 30_000);
});

describe('a handoff between contenders of one process on ZooKeeper, counted by the server', () => {
  it('a waiter whose predecessor was first in line is granted on its deletion without listing again', async (context) => {
    if (!servers) return context.skip();
    const chroot = `/baton-costs-handoff-${process.pid}`;
    const [holderCoord, secondCoord, thirdCoord] = [await open(chroot), await open(chroot), await open(chroot)];
    const third = await sessionOf(thirdCoord);
    // The least over a few handoffs: a heartbeat may fall into one.
    let least = Infinity;
    for (let round = 0; round < 3; round++) {
      const name = `chain-${randomUUID().slice(0, 8)}`;
      const holder = await holderCoord.mutex(name).acquire();
      const second = secondCoord.mutex(name).acquire();
      const secondSession = await sessionOf(secondCoord);
      await until(async () => (await watchesOf(servers!, secondSession)).includes(holder.key), 'the second waits for the holder');
      const thirdWaiting = thirdCoord.mutex(name).acquire();
      await until(async () => (await watchesOf(servers!, third)).length === 2, 'the third watches its own node and the second\'s');
      let lease: Lease | undefined;
      const packets = await packetsDuring(servers!, third, async () => {
        await holder.release();
        await (await second).release();
        lease = await thirdWaiting;
      });
      least = Math.min(least, packets);
      await lease!.release();
    }
    // Its predecessor was granted on the holder's deletion, first in line: so is the third on the
    // predecessor's, with no request between. Before, it listed the children again (1).
    expect(least).toBe(0);
  }, 60_000);

  it('contended holds make no EventEmitter: the own-node and blocker watches are kept without one', async (context) => {
    if (!servers) return context.skip();
    const chroot = `/baton-costs-contended-emitters-${process.pid}`;
    const name = `contended-${randomUUID().slice(0, 8)}`;
    const coords = [await open(chroot), await open(chroot), await open(chroot)];
    const loop = async (coord: Coordinator, holds: number) => {
      const mutex = coord.mutex(name);
      for (let i = 0; i < holds; i++) await (await mutex.acquire()).release();
    };
    // Warmed first: the sessions have listed the name and learnt it is crowded.
    await Promise.all(coords.map((coord) => loop(coord, 3)));
    const before = await Promise.all(coords.map(async (coord) => receivedFrom(servers!, await sessionOf(coord))));
    const made = await emittersMadeDuring(() => Promise.all(coords.map((coord) => loop(coord, 10))));
    const after = await Promise.all(coords.map(async (coord) => receivedFrom(servers!, await sessionOf(coord))));
    const watches = after.reduce((sum, n, i) => sum + n - before[i]!, 0) - 30 * 3;
    console.log(`30 contended holds: ${made} EventEmitters, about ${watches} watch requests besides create, listing and delete`);
    // The three loop on one name, so most holds waited: each sent a getData watch on its own node
    // and one on the node ahead of it. Before, the client made an emitter for each (about two per
    // hold that waited: 40 to 60 here).
    expect(watches, 'the holds waited').toBeGreaterThan(10);
    expect(made).toBe(0);
  }, 60_000);

  it('a waiter whose predecessor leaves without having been first lists again and waits for the holder', async (context) => {
    if (!servers) return context.skip();
    const chroot = `/baton-costs-withdrawn-${process.pid}`;
    const name = `withdrawn-${randomUUID().slice(0, 8)}`;
    const [holderCoord, secondCoord, thirdCoord] = [await open(chroot), await open(chroot), await open(chroot)];
    const holder = await holderCoord.mutex(name).acquire();
    const controller = new AbortController();
    const second = secondCoord.mutex(name).acquire({ signal: controller.signal });
    second.catch(() => {});
    const secondSession = await sessionOf(secondCoord);
    await until(async () => (await watchesOf(servers!, secondSession)).includes(holder.key), 'the second waits for the holder');
    let granted = false;
    const thirdWaiting = thirdCoord.mutex(name).acquire().then((lease) => {
      granted = true;
      return lease;
    });
    const third = await sessionOf(thirdCoord);
    await until(async () => (await watchesOf(servers!, third)).length === 2, 'the third waits for the second');
    controller.abort();
    await expect(second).rejects.toThrow(/abort/i);
    // The second's node is gone: the third lists again, finds the holder ahead and waits for it.
    await until(async () => (await watchesOf(servers!, third)).includes(holder.key), 'the third waits for the holder');
    expect(granted).toBe(false);
    await holder.release();
    await (await thirdWaiting).release();
  }, 60_000);
});

describe('an uncontended acquire on ZooKeeper, counted by the server', () => {
  it(`costs three requests per acquire + release: the create and the listing, then the delete (${PAIRS} pairs)`, async (context) => {
    if (!servers) return context.skip();
    const { coord, mutex } = await warmedMutex('uncontended');
    const session = await sessionOf(coord);
    const packets = await packetsDuring(servers!, session, async () => {
      for (let i = 0; i < PAIRS; i++) await (await mutex.acquire()).release();
    });
    console.log(`uncontended acquire + release: ${(packets / PAIRS).toFixed(2)} requests per pair`);
    // A heartbeat or a ping may fall into the count: a few packets more than 3 per pair, never a
    // fourth request per pair (before: the own-node watch, sent with the create and the parent's
    // Stat or the stamp).
    expect(Math.floor(packets / PAIRS), `${packets} packets for ${PAIRS} pairs`).toBe(3);
  }, 60_000);

  it('writes nothing but its own node: the parent keeps its data version and mzxid', async (context) => {
    if (!servers) return context.skip();
    const chroot = `/baton-costs-parent-${process.pid}`;
    const coord = await open(chroot);
    const name = `untouched-${randomUUID().slice(0, 8)}`;
    const mutex = coord.mutex(name);
    await (await mutex.acquire()).release();
    const client = await otherClient();
    const statOf = (path: string) => call<zookeeper.Stat>((cb) => client.exists(path, cb));
    const before = await statOf(`${chroot}/${name}`);
    const tokens: bigint[] = [];
    for (let i = 0; i < 5; i++) {
      const lease = await mutex.acquire();
      tokens.push(lease.token);
      expect(lease.token).toBe((await statOf(lease.key)).czxid.readBigUInt64BE(0));
      await lease.release();
    }
    const after = await statOf(`${chroot}/${name}`);
    // Before, every enqueue was a multi with an empty setData on the parent (its new mzxid was the
    // token): the parent's data version counted the enqueues after the first (5 here).
    expect({ version: after.version, mzxid: after.mzxid.readBigUInt64BE(0) }).toEqual({ version: before.version, mzxid: after.czxid.readBigUInt64BE(0) });
    expect(after.version).toBe(0);
    expect(new Set(tokens).size).toBe(5);
  }, 30_000);

  it('an uncontended hold sets no watch on its node, and still reports its deletion by someone else', async (context) => {
    if (!servers) return context.skip();
    const { chroot, coord, name, mutex } = await warmedMutex('alone');
    const session = await sessionOf(coord);
    const lease = await mutex.acquire();
    // Its node is watched through the child watch the listing set on the parent: no data watch
    // (`wchc` lists data watches). Before, a getData watch on its node went out with the create.
    expect(await watchesOf(servers!, session)).toEqual([]);
    const client = await otherClient();
    const lost = lossOf(lease);
    await call((cb) => client.remove(lease.key, -1, (error) => cb(error)));
    expect(String(await lost)).toMatch(/deleted by someone else/);
    expect(await lease.release()).toBeUndefined();
  }, 30_000);

  it("an uncontended hold's child watch is set again after a reconnect: its node deleted while cut off is reported", async (context) => {
    if (!servers) return context.skip();
    const [host, port] = servers.endpoints[0]!.split(':') as [string, string];
    const proxy = await startTcpProxy(Number(port), host);
    try {
      const chroot = `/baton-costs-rewatch-${process.pid}`;
      const coord = await connect(`zookeeper://127.0.0.1:${proxy.port}${chroot}?sessionTimeout=20000`);
      opened.push(coord);
      const mutex = coord.mutex(`rewatch-${randomUUID().slice(0, 8)}`);
      for (let i = 0; i < 3; i++) await (await mutex.acquire()).release();
      const session = await sessionOf(coord);
      const lease = await mutex.acquire();
      // Watched through the child watch on its name only (no data watch on its node).
      expect(await watchesOf(servers, session)).toEqual([]);
      const lost = lossOf(lease);
      let signalled = false;
      lost.then(() => (signalled = true), () => {});
      // Cut off; the node deleted meanwhile by another client; then the link back. The server
      // hears of the child watch again only from the client's reconnect (its set-watches request),
      // and reports the change it missed at once.
      proxy.refuse();
      const client = await otherClient();
      await call((cb) => client.remove(lease.key, -1, (error) => cb(error)));
      expect(signalled).toBe(false);
      proxy.restore();
      expect(String(await lost)).toMatch(/deleted by someone else/);
      await lease.release();
    } finally {
      await proxy.close();
    }
  }, 30_000);

  it('an uncontended hold watches its node itself once another contender joins, and reports its deletion', async (context) => {
    if (!servers) return context.skip();
    const { chroot, coord, name, mutex } = await warmedMutex('joined');
    const session = await sessionOf(coord);
    const lease = await mutex.acquire();
    // Another client's contender joins: the parent's children change, and the hold's own getData
    // watch takes over.
    const client = await otherClient();
    const other = await call<string>((cb) =>
      client.create(`${chroot}/${name}/other-`, Buffer.alloc(0), zookeeper.CreateMode.EPHEMERAL_SEQUENTIAL, cb),
    );
    await until(async () => (await watchesOf(servers!, session)).length > 0, 'the hold watches its own node');
    expect(await watchesOf(servers!, session)).toEqual([lease.key]);
    const lost = lossOf(lease);
    await call((cb) => client.remove(lease.key, -1, (error) => cb(error)));
    expect(String(await lost)).toMatch(/deleted by someone else/);
    await lease.release();
    await call((cb) => client.remove(other, -1, (error) => cb(error)));
    // Alone again: three requests per pair once more.
    await (await mutex.acquire()).release();
    const packets = await packetsDuring(servers!, session, async () => {
      for (let i = 0; i < PAIRS; i++) await (await mutex.acquire()).release();
    });
    expect(Math.floor(packets / PAIRS), `${packets} packets for ${PAIRS} pairs`).toBe(3);
  }, 30_000);
});
