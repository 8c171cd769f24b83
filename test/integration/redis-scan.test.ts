/**
 * What the dashboard's scan does on a real Redis, counted by the server (INFO commandstats,
 * PUBSUB NUMPAT): it finds queues through the high-water hash with HSCAN, never KEYS or SCAN, so
 * a database full of other keys costs it nothing; it follows changes through one pattern
 * subscription.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Coordinator } from '../../src/index.js';
import { backendOf } from '../../src/testing.js';
import { type RedisServer, startRedis } from '../support/redis-server.js';

let server: RedisServer | undefined;
let raw: Redis | undefined;
const opened: Coordinator[] = [];
beforeAll(async () => {
  server = await startRedis({ needControl: true });
  raw = await server?.raw();
});
afterAll(async () => {
  await Promise.all(opened.map((coord) => coord.close()));
  await server?.stop();
});

/** Calls of each command since the last CONFIG RESETSTAT, scripts' own calls included. */
async function commandCalls(): Promise<Record<string, number>> {
  const info = await raw!.info('commandstats');
  return Object.fromEntries([...info.matchAll(/^cmdstat_([a-z|]+):calls=(\d+)/gm)].map((m) => [m[1]!, Number(m[2])]));
}

describe('the dashboard scan on Redis, counted by the server', () => {
  it('finds queues with HSCAN of the high-water hash, never KEYS or SCAN, and follows them with one pattern subscription', async (context) => {
    if (!server) return context.skip();
    const prefix = `scan-${randomUUID().slice(0, 8)}`;
    const url = server.url({ prefix: `${prefix}:` });
    const [viewer, a] = await Promise.all([connect(url), connect(url)]);
    opened.push(viewer, a);
    // Ten thousand keys that are not Baton's: a scan that walked the database would pay for them.
    const other = raw!.pipeline();
    for (let i = 0; i < 10_000; i++) other.set(`${prefix}-other:${i}`, 'x');
    await other.exec();
    const leases = await Promise.all([a.mutex(`${prefix}/jobs/a`).acquire(), a.mutex(`${prefix}/jobs/b`).acquire(), a.semaphore(`${prefix}/gpus`, { permits: 2 }).acquire()]);

    await raw!.config('RESETSTAT');
    const stop = new AbortController();
    const backend = backendOf(viewer);
    const watched = await backend.scan!(prefix, stop.signal);
    const calls = await commandCalls();
    expect(watched.current.keys.map((key) => key.key).sort()).toEqual(leases.map((lease) => lease.key).sort());
    expect(calls.keys ?? 0, 'KEYS calls').toBe(0);
    expect(calls.scan ?? 0, 'SCAN calls').toBe(0);
    expect(calls.hscan, 'HSCAN calls: one page').toBe(1);
    expect(Number(await raw!.pubsub('NUMPAT'))).toBe(1);

    await leases[0]!.release();
    await watched.changed;
    const after = await backend.scan!(prefix, stop.signal);
    expect(after.current.keys.map((key) => key.key)).not.toContain(leases[0]!.key);
    stop.abort();
    await Promise.all(leases.slice(1).map((lease) => lease.release()));
  });
});
