/**
 * How a ZooKeeper connection reads what the server sends (src/backends/zookeeper/answers.ts),
 * counted: the bytes copied while answers are split out of the network chunks, and the answers
 * decoded by node-zookeeper-client's generic record code. A proxy the test controls delivers many
 * answers in one chunk (held, then sent in one write) or one answer over many chunks (a throttled
 * link), and the results are checked against the server's.
 */
import { createRequire } from 'node:module';
import zookeeper from 'node-zookeeper-client';
import { afterAll, describe, expect, it } from 'vitest';
import { ZkConnection } from '../../src/backends/zookeeper/connection.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { until } from '../support/until.js';
import { zooKeeperForTests } from '../support/zookeeper-for-tests.js';

const zk = zooKeeperForTests();
const connections: ZkConnection[] = [];
const proxies: TcpProxy[] = [];
afterAll(async () => {
  await Promise.all(connections.map((conn) => conn.close()));
  await Promise.all(proxies.map((proxy) => proxy.close()));
});

const OPEN_ACL = [new zookeeper.ACL(zookeeper.Permission.ALL, new zookeeper.Id('world', 'anyone'))];
const EMPTY = Buffer.alloc(0);

/** A supervised connection to the test's server through a proxy of its own, and the parent `/<label>-<pid>` created. */
async function proxiedConnection(label: string): Promise<{ conn: ZkConnection; proxy: TcpProxy; parent: string }> {
  const [host, port] = zk.servers!.endpoints[0]!.split(':') as [string, string];
  const proxy = await startTcpProxy(Number(port), host);
  proxies.push(proxy);
  // A long session: no heartbeat or ping falls into a count.
  const conn = await ZkConnection.open({ endpoints: [`127.0.0.1:${proxy.port}`], chroot: '', sessionTimeout: 40_000, auth: undefined });
  connections.push(conn);
  const parent = `/answers-${label}-${process.pid}`;
  await conn.create(parent, EMPTY, OPEN_ACL, zookeeper.CreateMode.PERSISTENT);
  return { conn, proxy, parent };
}

/** The bytes Buffer.concat copies while `run` runs (the client's and this module's way of joining chunks). */
async function bytesConcatenatedDuring<T>(run: () => Promise<T>): Promise<{ result: T; copied: number }> {
  const concat = Buffer.concat;
  let copied = 0;
  Buffer.concat = function (list: readonly Uint8Array[], totalLength?: number) {
    const joined = concat.call(Buffer, list, totalLength);
    copied += joined.length;
    return joined;
  } as typeof Buffer.concat;
  try {
    return { result: await run(), copied };
  } finally {
    Buffer.concat = concat;
  }
}

describe('reading the answers of a ZooKeeper connection', () => {
  it('many answers in one network chunk are read where they lie: no copy of the rest of the chunk per answer', async (context) => {
    if (!zk.servers) return context.skip();
    const { conn, proxy, parent } = await proxiedConnection('chunk');
    await conn.create(`${parent}/child`, EMPTY, OPEN_ACL, zookeeper.CreateMode.PERSISTENT);
    const N = 400;
    proxy.holdAnswers();
    // Half framed and read by the adapter (listings), half the client's own requests (exists):
    // every answer goes through the same split.
    const answers = Array.from({ length: N }, (_, i) => (i % 2 === 0 ? conn.getChildren(parent) : conn.exists(`${parent}/child`)));
    await until(() => proxy.heldBytes >= (N / 2) * (16 + 4 + 4 + 5 + 68) + (N / 2) * (16 + 68), () => `the ${N} answers held (${proxy.heldBytes} bytes so far)`);
    const held = proxy.heldBytes;
    // Sent in one write now (the proxy joins them first, uncounted); read after this turn.
    proxy.releaseAnswers();
    const { result, copied } = await bytesConcatenatedDuring(() => Promise.all(answers));
    for (const [i, answer] of result.entries()) {
      if (i % 2 === 0) expect((answer as { children: string[] }).children).toEqual(['child']);
      else expect((answer as { version: number }).version).toBe(0);
    }
    console.log(`${N} answers, ${held} bytes in one write: ${copied} bytes copied`);
    // Before, each answer copied the rest of its chunk: about N/2 times the chunk, 7.5 MB here.
    // Now only an answer cut by the end of a socket read is put together, once.
    expect(copied).toBeLessThanOrEqual(held);
  }, 60_000);

  it('an answer spread over many network chunks is put together once, and read whole', async (context) => {
    if (!zk.servers) return context.skip();
    const { conn, proxy, parent } = await proxiedConnection('spread');
    const names = Array.from({ length: 300 }, (_, i) => `child-${String(i).padStart(4, '0')}-${'x'.repeat(40)}`);
    await Promise.all(names.map((name) => conn.create(`${parent}/${name}`, EMPTY, OPEN_ACL, zookeeper.CreateMode.PERSISTENT)));
    // About 16 KB of listing, sent 1 KB every 50 ms: 16 chunks or so, cut anywhere.
    proxy.throttleAnswers(20_000);
    const { result, copied } = await bytesConcatenatedDuring(() => Promise.all([conn.getChildren(parent), conn.exists(parent), conn.getChildren(parent)]));
    proxy.throttleAnswers(undefined);
    const [first, stat, second] = result;
    expect([...first.children].sort()).toEqual(names);
    expect(second.children).toEqual(first.children);
    expect(stat?.numChildren).toBe(names.length);
    // Each answer with its length field, reply header and Stat.
    const listingBytes = 4 + 16 + 4 + names.reduce((sum, name) => sum + 4 + name.length, 0) + 68;
    const existsBytes = 4 + 16 + 68;
    console.log(`two listings of ${listingBytes} bytes over a throttled link: ${copied} bytes copied`);
    // Before, every chunk of a cut answer copied all of it received so far, and the rest of the
    // chunk after each answer: 310 KB here, 9 times the two listings. Now each cut answer is
    // copied once, when it is all in (and the 4 bytes of its length field once more, when that
    // too was cut).
    expect(copied).toBeLessThanOrEqual(2 * listingBytes + existsBytes + 3 * 4);
  }, 60_000);

  it('keeps the latest zxid the server told of, which the client sends when it reconnects: that of the last write answered', async (context) => {
    if (!zk.servers) return context.skip();
    const { conn, proxy, parent } = await proxiedConnection('zxid');
    const lastZxid = () => (conn.client as unknown as { connectionManager: { zxid: Buffer } }).connectionManager.zxid.readBigUInt64BE(0);
    // Read by the adapter: a create2's answer carries the create's zxid, which is the node's czxid.
    const { stat } = await conn.create2(`${parent}/n-`, EMPTY, OPEN_ACL, zookeeper.CreateMode.EPHEMERAL_SEQUENTIAL);
    expect(lastZxid()).toBe(stat.czxid.readBigUInt64BE(0));
    // Read by the client (its own create), then by the adapter again.
    await conn.create(`${parent}/m`, EMPTY, OPEN_ACL, zookeeper.CreateMode.EPHEMERAL);
    const afterCreate = lastZxid();
    expect(afterCreate).toBeGreaterThan(stat.czxid.readBigUInt64BE(0));
    const second = await conn.create2(`${parent}/n-`, EMPTY, OPEN_ACL, zookeeper.CreateMode.EPHEMERAL_SEQUENTIAL);
    expect(lastZxid()).toBe(second.stat.czxid.readBigUInt64BE(0));
    expect(lastZxid()).toBeGreaterThan(afterCreate);
    // A reconnect sends it: a server refuses a client that has seen a zxid it has not. The
    // session goes on, on a new connection.
    const reconnects = conn.reconnects;
    proxy.cut();
    await until(() => conn.reconnects > reconnects && conn.connected, 'the connection back');
    expect((await conn.getChildren(parent)).children).toHaveLength(3);
  }, 60_000);

  it("an uncontended acquire + release decodes none of its answers with the client's generic record code", async (context) => {
    if (!zk.servers) return context.skip();
    const { connect } = await import('../../src/index.js');
    const coord = await connect(zk.servers.url({ chroot: `/answers-records-${process.pid}`, sessionTimeout: 40_000 }));
    zk.opened.push(coord);
    const mutex = coord.mutex('records');
    for (let i = 0; i < 3; i++) await (await mutex.acquire()).release();
    // Every record the client reads (reply headers, Stats, listings, notifications) goes through
    // its one Record.prototype.deserialize.
    const jute = createRequire(import.meta.url)('node-zookeeper-client/lib/jute') as { protocol: { ReplyHeader: { prototype: object } } };
    const record = Object.getPrototypeOf(jute.protocol.ReplyHeader.prototype) as { deserialize: (...args: unknown[]) => number };
    const deserialize = record.deserialize;
    let decoded = 0;
    record.deserialize = function (this: unknown, ...args: unknown[]) {
      decoded++;
      return deserialize.apply(this, args);
    };
    let least = Infinity;
    try {
      // The least over three runs: the client's own ping, were one to fall into a run, is read by it.
      for (let run = 0; run < 3; run++) {
        decoded = 0;
        for (let i = 0; i < 10; i++) await (await mutex.acquire()).release();
        least = Math.min(least, decoded);
      }
    } finally {
      record.deserialize = deserialize;
    }
    // Before: 9 records per pair (three reply headers, the create2's answer and its Stat, the
    // listing and its Stat, the notification's header and event): 90.
    expect(least).toBe(0);
  }, 60_000);
});
