/**
 * Looking at a real ZooKeeper from a test: what the server says of a session (its four-letter
 * words), and a bare client of the same servers for another client's creates, deletes and reads.
 */
import zookeeper from 'node-zookeeper-client';
import type { ZooKeeperBackend } from '../../src/backends/zookeeper/index.js';
import type { Coordinator } from '../../src/index.js';
import { backendOf } from '../../src/testing.js';
import type { ZooKeeperServers } from './zookeeper-server.js';

/** The id of `coord`'s ZooKeeper session, as the four-letter words print it. */
export async function sessionOf(coord: Coordinator): Promise<bigint> {
  return BigInt((await (backendOf(coord) as ZooKeeperBackend).connection()).sessionId);
}

/** The paths the server holds data watches on for `session`, from `wchc` (session ids are printed unpadded). */
export async function watchesOf(servers: ZooKeeperServers, session: bigint): Promise<string[]> {
  const report = (await servers.fourLetter(0, 'wchc')) ?? '';
  const paths: string[] = [];
  let mine = false;
  for (const line of report.split('\n')) {
    if (/^0x[0-9a-f]+$/.test(line.trim()) && !line.startsWith('\t')) mine = BigInt(line.trim()) === session;
    else if (mine && line.trim().startsWith('/')) paths.push(line.trim());
  }
  return paths;
}

/** Packets the server has received from `session`'s connection, from `cons`. */
export async function receivedFrom(servers: ZooKeeperServers, session: bigint): Promise<number> {
  const report = (await servers.fourLetter(0, 'cons')) ?? '';
  for (const line of report.split('\n')) {
    const sid = /sid=(0x[0-9a-f]+)/.exec(line)?.[1];
    if (sid !== undefined && BigInt(sid) === session) return Number(/recved=(\d+)/.exec(line)?.[1]);
  }
  throw new Error(`no connection of session 0x${session.toString(16)} in cons: ${report}`);
}

/** Packets the server received from `session`'s connection while `run` ran: the requests it cost. */
export async function packetsDuring(servers: ZooKeeperServers, session: bigint, run: () => Promise<unknown>): Promise<number> {
  const before = await receivedFrom(servers, session);
  await run();
  return (await receivedFrom(servers, session)) - before;
}

/** A connected plain client of `servers` (with digest credentials `auth`, "user:password", if given). */
export async function rawClient(servers: ZooKeeperServers, options: { sessionTimeout: number; auth?: string }): Promise<zookeeper.Client> {
  const client = zookeeper.createClient(servers.endpoints.join(','), { sessionTimeout: options.sessionTimeout });
  if (options.auth) client.addAuthInfo('digest', Buffer.from(options.auth));
  await new Promise<void>((resolve) => {
    client.once('connected', () => resolve());
    client.connect();
  });
  return client;
}

/** A node-zookeeper-client call as a promise. */
export const call = <T>(fn: (cb: (error: unknown, result?: T) => void) => void) =>
  new Promise<T>((resolve, reject) => fn((error, result) => (error ? reject(error) : resolve(result as T))));
