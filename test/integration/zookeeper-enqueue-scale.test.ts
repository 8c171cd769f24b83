/**
 * What entering a long queue costs on ZooKeeper, counted on the wire: the requests the server
 * received from the waiters' session (`cons`) and the bytes the session read from the server, per
 * enqueue, behind 10 and behind 1,000 waiters of the same coordinator. A coordinator that follows
 * the name (its waiters ask for positions, or it has several waiters there) reads a new waiter's
 * standing from the name's view instead of listing the children: the same requests and the same
 * bytes whatever the queue's length. Before, every enqueue listed the queue so far, so W waiters
 * moved O(W^2) bytes.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ZooKeeperBackend } from '../../src/backends/zookeeper/index.js';
import type { ZkConnection } from '../../src/backends/zookeeper/connection.js';
import { connect, type Coordinator, type Lease } from '../../src/index.js';
import { backendOf } from '../../src/testing.js';
import { receivedFrom, watchesOf } from '../support/zookeeper-inspect.js';
import { zooKeeperForTests } from '../support/zookeeper-for-tests.js';
import { until } from '../support/until.js';

/** Enqueues measured one by one after the queue is filled: the least of them is the count. */
const MEASURED = 5;

const zk = zooKeeperForTests();
const opened = zk.opened;

/** A coordinator whose heartbeat (every fifth of the session timeout) rarely falls into a count. */
async function open(chroot: string): Promise<Coordinator> {
  const coord = await connect(zk.servers!.url({ chroot, sessionTimeout: 40_000 }));
  opened.push(coord);
  return coord;
}

async function connectionOf(coord: Coordinator): Promise<ZkConnection> {
  return (backendOf(coord) as ZooKeeperBackend).connection();
}

/** The bytes the client has read from the server on its current socket. */
function bytesRead(conn: ZkConnection): number {
  return (conn.client as unknown as { connectionManager: { socket: { bytesRead: number } } }).connectionManager.socket.bytesRead;
}

/** Requests the client sent that the server has not answered yet (or whose answers are unread). */
function unanswered(conn: ZkConnection): number {
  return (conn.client as unknown as { connectionManager: { pendingQueue: unknown[] } }).connectionManager.pendingQueue.length;
}

/**
 * The client's getData watchers, over every path (one per waiter's own node, one per waiter's
 * wait): each path's entry answers `listeners('notification')`, the client's emitter as the
 * adapter's list in its place (src/backends/zookeeper/child-watches.ts).
 */
function dataWatchers(conn: ZkConnection): number {
  const watchers = (conn.client as unknown as { connectionManager: { watcherManager: { dataWatchers: Record<string, { listeners(event: string): readonly unknown[] }> } } }).connectionManager.watcherManager.dataWatchers;
  let count = 0;
  for (const entry of Object.values(watchers)) count += entry.listeners('notification').length;
  return count;
}

interface Costs {
  readonly requests: number;
  readonly bytes: number;
}

/**
 * Queues `waiters` contenders on one name in one coordinator, behind a holder of another, then
 * enters {@link MEASURED} more one at a time, each once the last is settled (its watches on the
 * server, every answer read): the least requests and bytes one of them cost.
 */
async function enqueueCosts(waiters: number, positions: boolean): Promise<Costs> {
  const chroot = `/baton-enqueue-scale-${process.pid}`;
  const name = `scale-${randomUUID().slice(0, 8)}`;
  const holderCoord = await open(chroot);
  const coord = await open(chroot);
  const holder = await holderCoord.mutex(name).acquire();
  const mutex = coord.mutex(name);
  const conn = await connectionOf(coord);
  const session = BigInt(conn.sessionId);
  const granted: Array<Promise<Lease>> = [];
  const enter = () => granted.push(mutex.acquire(positions ? { onQueued: () => {} } : {}));
  // Every waiter watches its own node; the one just ahead of it (the holder, for the first) is
  // the previous one's own: one watched path more per waiter.
  // Every waiter watches its own node and the one just ahead of it: the server holds one watched
  // path more per waiter (the one ahead is the previous waiter's own, or the holder's), and the
  // client one watcher more on its own node and one on the node ahead, once their answers are read.
  const settled = (count: number) =>
    until(
      async () => unanswered(conn) === 0 && dataWatchers(conn) === 2 * count && (await watchesOf(zk.servers!, session)).filter((path) => path.includes('/_c_')).length === count + 1,
      `${count} waiters in line, every answer read`,
      60_000,
    );
  for (let i = 0; i < waiters; i++) enter();
  await settled(waiters);
  let least: Costs = { requests: Infinity, bytes: Infinity };
  for (let i = 1; i <= MEASURED; i++) {
    const requests = await receivedFrom(zk.servers!, session);
    const bytes = bytesRead(conn);
    enter();
    await settled(waiters + i);
    const cost = { requests: (await receivedFrom(zk.servers!, session)) - requests, bytes: bytesRead(conn) - bytes };
    if (cost.bytes < least.bytes) least = cost;
  }
  // Served in order, so the run ends with nothing left on the server.
  await holder.release();
  for (const waiting of granted) await (await waiting).release();
  return least;
}

describe('entering a long queue on ZooKeeper, counted on the wire', () => {
  for (const positions of [false, true]) {
    it(`costs the same requests and bytes behind 1,000 waiters as behind 10 (${positions ? 'every waiter asking for positions' : 'no positions asked for'})`, async (context) => {
      if (!zk.servers) return context.skip();
      const short = await enqueueCosts(10, positions);
      const long = await enqueueCosts(1000, positions);
      console.log(`per enqueue (${positions ? 'with' : 'without'} positions): behind 10 waiters ${short.requests} requests, ${short.bytes} bytes read; behind 1,000 ${long.requests} requests, ${long.bytes} bytes read`);
      // Before, each enqueue's listing grew with the queue: some 70 bytes read per waiter ahead.
      expect(long).toEqual(short);
    }, 300_000);
  }
});
