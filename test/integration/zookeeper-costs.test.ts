/**
 * What an uncontended acquire + release costs on ZooKeeper, counted by the server: the packets it
 * received from the session (`cons`). A process that takes and releases a lock nobody else wants
 * sends the create (a multi with the parent stamp) and its own-node watch in one write, no listing
 * (the multi's parent Stat says the node is alone), and one delete: three requests per pair. And
 * the own-node watch that goes out behind the create on the name the node is expected to get still
 * reports the node's deletion, whether that guess was right or, after another client created a
 * child meanwhile, wrong (then it found no node, set no watch, and the real watch went out).
 */
import { randomUUID } from 'node:crypto';
import zookeeper from 'node-zookeeper-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ZooKeeperBackend } from '../../src/backends/zookeeper/index.js';
import { connect, type Coordinator, type Lease } from '../../src/index.js';
import { backendOf } from '../../src/testing.js';
import { startZooKeeper, type ZooKeeperServers } from '../support/zookeeper-server.js';

const PAIRS = 40;

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

async function sessionOf(coord: Coordinator): Promise<bigint> {
  return BigInt((await (backendOf(coord) as ZooKeeperBackend).connection()).sessionId);
}

/** Packets the server has received from `session`'s connection, from `cons`. */
async function receivedFrom(session: bigint): Promise<number> {
  const report = (await servers!.fourLetter(0, 'cons')) ?? '';
  for (const line of report.split('\n')) {
    const sid = /sid=(0x[0-9a-f]+)/.exec(line)?.[1];
    if (sid !== undefined && BigInt(sid) === session) return Number(/recved=(\d+)/.exec(line)?.[1]);
  }
  throw new Error(`no connection of session 0x${session.toString(16)} in cons: ${report}`);
}

/** The paths the server holds data watches on for `session`, from `wchc`. */
async function watchesOf(session: bigint): Promise<string[]> {
  const report = (await servers!.fourLetter(0, 'wchc')) ?? '';
  const paths: string[] = [];
  let mine = false;
  for (const line of report.split('\n')) {
    if (/^0x[0-9a-f]+$/.test(line.trim()) && !line.startsWith('\t')) mine = BigInt(line.trim()) === session;
    else if (mine && line.trim().startsWith('/')) paths.push(line.trim());
  }
  return paths;
}

/** A plain client of the same server, for another client's creates and deletes. */
async function rawClient(): Promise<zookeeper.Client> {
  const client = zookeeper.createClient(servers!.endpoints.join(','), { sessionTimeout: 10_000 });
  clients.push(client);
  await new Promise<void>((resolve) => {
    client.once('connected', () => resolve());
    client.connect();
  });
  return client;
}

const call = <T>(fn: (cb: (error: unknown, result?: T) => void) => void) =>
  new Promise<T>((resolve, reject) => fn((error, result) => (error ? reject(error) : resolve(result as T))));

/** Resolves once `ready()` holds, checked every 5 ms for at most 5 s. */
async function until(ready: () => Promise<boolean>, what: string): Promise<void> {
  for (let waited = 0; !(await ready()); waited += 5) {
    if (waited >= 5000) throw new Error(`not within 5 s: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
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

describe('an uncontended acquire on ZooKeeper, counted by the server', () => {
  it(`costs three requests per acquire + release: the create and its own-node watch, then the delete (${PAIRS} pairs)`, async (context) => {
    if (!servers) return context.skip();
    const coord = await open(`/baton-costs-${process.pid}`);
    const mutex = coord.mutex(`uncontended-${randomUUID().slice(0, 8)}`);
    // The first acquires learn the parent: created, seen empty, then seen alone.
    for (let i = 0; i < 3; i++) await (await mutex.acquire()).release();
    const session = await sessionOf(coord);
    const before = await receivedFrom(session);
    for (let i = 0; i < PAIRS; i++) await (await mutex.acquire()).release();
    const packets = (await receivedFrom(session)) - before;
    console.log(`uncontended acquire + release: ${(packets / PAIRS).toFixed(2)} requests per pair`);
    // A heartbeat or a ping may fall into the count: a few packets more than 3 per pair, never a
    // fourth request per pair (the listing an uncontended acquire used to send with its create).
    expect(Math.floor(packets / PAIRS), `${packets} packets for ${PAIRS} pairs`).toBe(3);
  }, 60_000);

  it('a hold reports its node deleted by someone else when the name guessed for its watch was right', async (context) => {
    if (!servers) return context.skip();
    const chroot = `/baton-costs-hit-${process.pid}`;
    const coord = await open(chroot);
    const name = `guessed-${randomUUID().slice(0, 8)}`;
    const mutex = coord.mutex(name);
    for (let i = 0; i < 3; i++) await (await mutex.acquire()).release();
    const session = await sessionOf(coord);
    const lease = await mutex.acquire();
    // One data watch on the server for this session: its own node's, under the name guessed.
    expect(await watchesOf(session)).toEqual([lease.key]);
    const client = await rawClient();
    const lost = lossOf(lease);
    await call((cb) => client.remove(lease.key, -1, (error) => cb(error)));
    expect(String(await lost)).toMatch(/deleted by someone else/);
    expect(await lease.release()).toBeUndefined();
  }, 30_000);

  it('a hold reports its node deleted by someone else when another client created a child since, so the guess was wrong', async (context) => {
    if (!servers) return context.skip();
    const chroot = `/baton-costs-miss-${process.pid}`;
    const coord = await open(chroot);
    const name = `missed-${randomUUID().slice(0, 8)}`;
    const mutex = coord.mutex(name);
    for (let i = 0; i < 3; i++) await (await mutex.acquire()).release();
    // Another client's child, created and deleted: the next node's sequence is one more than guessed.
    const client = await rawClient();
    const other = await call<string>((cb) =>
      client.create(`${chroot}/${name}/other-`, Buffer.alloc(0), zookeeper.CreateMode.EPHEMERAL_SEQUENTIAL, cb),
    );
    await call((cb) => client.remove(other, -1, (error) => cb(error)));
    const session = await sessionOf(coord);
    const lease = await mutex.acquire();
    // The guessed name's watch found no node and left none; the real one goes out on the create's
    // answer (the acquire does not wait for it to be answered).
    await until(async () => (await watchesOf(session)).length > 0, 'the own-node watch is on the server');
    expect(await watchesOf(session)).toEqual([lease.key]);
    const lost = lossOf(lease);
    await call((cb) => client.remove(lease.key, -1, (error) => cb(error)));
    expect(String(await lost)).toMatch(/deleted by someone else/);
    await lease.release();
    // And the next acquire, alone again, guesses right once more: three requests per pair.
    await (await mutex.acquire()).release();
    const before = await receivedFrom(session);
    for (let i = 0; i < PAIRS; i++) await (await mutex.acquire()).release();
    expect(Math.floor(((await receivedFrom(session)) - before) / PAIRS)).toBe(3);
  }, 30_000);
});
