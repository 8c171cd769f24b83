/**
 * A ZooKeeper waiter is granted only while its own node exists in its live session, also when the
 * news of its blocker's deletion reaches it out of order: after a reconnect, the server reports
 * every node deleted while the client was away at once, in the order the client lists its
 * watches, not in the order the nodes were deleted.
 */
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import zookeeper from 'node-zookeeper-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Coordinator, LeaseLostError } from '../../src/index.js';
import { backendOf } from '../../src/testing.js';
import { localZooKeeperAvailable, startZooKeeper, type ZooKeeperServers } from '../support/zookeeper-server.js';
import { rawClient, watchesOf } from '../support/zookeeper-inspect.js';
import { until } from '../support/until.js';

// The link of the waiter's coordinator goes through a proxy this file starts: local servers only.
const available = localZooKeeperAvailable();
let servers: ZooKeeperServers | undefined;
const coords: Coordinator[] = [];
const proxies: FrameProxy[] = [];
let operator: zookeeper.Client | undefined;

beforeAll(async () => {
  if (!available) return;
  servers = await startZooKeeper(1, { needControl: true });
  operator = await rawClient(servers!, { sessionTimeout: 10_000 });
}, 120_000);
afterAll(async () => {
  await Promise.all(coords.map((coord) => coord.close()));
  await Promise.all(proxies.map((proxy) => proxy.close()));
  operator?.close();
  await servers?.stop();
});

async function open(endpoint: string): Promise<Coordinator> {
  const coord = await connect({ backend: 'zookeeper', endpoints: [endpoint], chroot: `/waiter-safety-${process.pid}`, sessionTimeout: 10_000 });
  coords.push(coord);
  return coord;
}

/** Deletes `path` behind Baton's back, as an operator would. */
function deleteNode(path: string): Promise<void> {
  return new Promise((resolve, reject) => operator!.remove(path, -1, (error) => (error ? reject(error) : resolve())));
}

function settled<T>(promise: Promise<T>): Promise<T | unknown> {
  return promise.then(
    (value) => value,
    (error: unknown) => error,
  );
}

/**
 * A proxy for one ZooKeeper client: forwards, refuses connections (cutting the open one), and once
 * restored can pace what the server sends, one ZooKeeper frame (a 4-byte length, then that many
 * bytes) every `apartMs`, so that the client reads each frame on its own, as a loaded network may
 * deliver them. The shared TCP proxy forwards whole chunks; this one needs frame boundaries.
 */
interface FrameProxy {
  readonly port: number;
  refuse(): void;
  restore(pace?: { apartMs: number }): void;
  close(): Promise<void>;
}

async function startFrameProxy(targetPort: number): Promise<FrameProxy> {
  let refusing = false;
  let apartMs = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = net.connect(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.on('data', (chunk: Buffer) => upstream.write(chunk));
    let pending = Buffer.alloc(0);
    let draining = false;
    const drain = async () => {
      draining = true;
      while (pending.length >= 4 && pending.length >= 4 + pending.readInt32BE(0)) {
        const size = 4 + pending.readInt32BE(0);
        client.write(pending.subarray(0, size));
        pending = pending.subarray(size);
        if (apartMs > 0) await new Promise((resolve) => setTimeout(resolve, apartMs));
      }
      draining = false;
    };
    upstream.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      if (!draining) void drain();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const cut = () => {
    for (const socket of sockets) socket.destroy();
    sockets.clear();
  };
  return {
    port: (server.address() as net.AddressInfo).port,
    refuse() {
      refusing = true;
      cut();
    },
    restore(pace) {
      refusing = false;
      apartMs = pace?.apartMs ?? 0;
    },
    async close() {
      cut();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe.skipIf(!available)('ZooKeeper: a waiter is granted only while its own node exists in its live session', () => {
  it('own node deleted, then the blocker, while the waiter is cut off: the deletions reported together on reconnect end the wait with LeaseLostError', async () => {
    const name = `replay-${randomUUID().slice(0, 8)}`;
    const proxy = await startFrameProxy(Number(servers!.endpoints[0]!.split(':')[1]));
    proxies.push(proxy);
    const [a, b] = await Promise.all([open(`127.0.0.1:${proxy.port}`), open(servers!.endpoints[0]!)]);
    const blocker = await b.mutex(name).acquire();
    // The waiter's coordinator already watches the holder's node (as a dashboard scan of the name
    // does), so its client lists that watch before the waiter's own when it reconnects.
    const watching = new AbortController();
    await backendOf(a).watchKey(blocker.key, watching.signal);
    let queued!: () => void;
    const isQueued = new Promise<void>((resolve) => (queued = resolve));
    const waiting = settled(a.mutex(name).acquire({ onQueued: () => queued() }));
    await isQueued;
    const keys = (await backendOf(b).list(name)).map((entry) => entry.key);
    expect(keys).toHaveLength(2);
    const waiterKey = keys[1]!;
    const session = (backendOf(a) as unknown as { sessionCredentials(): { id: Buffer } }).sessionCredentials().id.readBigUInt64BE(0);
    // A server-side report: there is no event to wait for.
    await until(async () => {
      const watched = await watchesOf(servers!, session);
      return watched.includes(waiterKey) && watched.includes(blocker.key);
    }, 'the server watches both nodes for the waiter', 10_000);
    // A round trip on the waiter's connection: the answers to its watch requests, sent before, are in.
    await backendOf(a).list(name);

    // Cut off (its session lives on: 10 s), the waiter's node is deleted, then the holder releases.
    proxy.refuse();
    await deleteNode(waiterKey);
    await blocker.release();
    // On reconnect the server reports both deletions, the blocker's first (its watch is listed
    // first); each frame reaches the client in a read of its own.
    proxy.restore({ apartMs: 50 });

    const outcome = await waiting;
    watching.abort();
    expect(outcome).toBeInstanceOf(LeaseLostError);
    expect(await backendOf(b).list(name)).toEqual([]);
  });
});
