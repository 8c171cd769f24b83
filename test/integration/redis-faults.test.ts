/**
 * Real faults on a single test-owned redis-server: kill -9 and restart with persistence (an
 * append-only file synced on every write) and without, SIGSTOP of the server, a holder process
 * frozen beyond its TTL, and the notification connection killed with CLIENT KILL. In each:
 * exclusion holds with fencing, loss is signalled on time, and nothing is left behind.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisBackend } from '../../src/backends/redis/index.js';
import { type Coordinator, connect, type Lease, LeaseLostError, SessionLostError } from '../../src/index.js';
import { backendOf } from '../../src/testing.js';
import { localRedisAvailable, type RedisServer, startRedis } from '../support/redis-server.js';
import { Procs } from './cli-harness.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DIST_REDIS = `${ROOT}/dist/backends/redis/index.js`;
const wanted = localRedisAvailable() || process.env.CI === 'true';
const prefix = `baton-faults-${process.pid}:`;
const tag = `{${prefix}}`;

const coords: Coordinator[] = [];
const procs = new Procs();

afterEach(async () => {
  await procs.cleanup();
  await Promise.all(coords.splice(0).map((coord) => coord.close()));
});

async function open(server: RedisServer, ttl: number): Promise<Coordinator> {
  const coord = await connect(server.url({ ttl, prefix }));
  coords.push(coord);
  return coord;
}

const unique = (label: string) => `faults/${label}-${randomUUID().slice(0, 8)}`;

function aborted(signal: AbortSignal): Promise<unknown> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve(signal.reason);
    else signal.addEventListener('abort', () => resolve(signal.reason), { once: true });
  });
}

function queuedOnce() {
  let resolve!: () => void;
  const reached = new Promise<void>((r) => (resolve = r));
  return { reached, onQueued: () => resolve() };
}

/** Every contender entry and session key still on the server under the test prefix. */
async function leftovers(raw: Redis): Promise<string[]> {
  const found: string[] = [];
  for (const key of await raw.keys(`${tag}*`)) {
    if (key.startsWith(`${tag}s:`)) found.push(key);
    if (key.startsWith(`${tag}q:`)) for (const member of await raw.zrange(key, 0, -1)) found.push(`${key} ${member}`);
  }
  return found;
}

/** Closes every coordinator of the test, then expects the server to hold nothing of theirs. */
async function expectNothingLeft(raw: Redis): Promise<void> {
  await Promise.all(coords.splice(0).map((coord) => coord.close()));
  expect(await leftovers(raw)).toEqual([]);
}

/** A holder in its own process, importing the built package: prints JSON lines, obeys stdin. */
const HOLDER = `
import { createInterface } from 'node:readline';
const { connect } = await import(${JSON.stringify(`${ROOT}/dist/index.js`)});
const coord = await connect(process.env.HOLDER_URL);
const lease = await coord.mutex(process.env.HOLDER_NAME).acquire();
const say = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
lease.signal.addEventListener('abort', () => say({ lost: lease.signal.reason?.name ?? 'unknown' }));
say({ held: lease.token.toString(), key: lease.key });
for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'write') say({ wrote: await lease.guardedWrite([{ put: process.env.HOLDER_DATA, value: 'from the paused holder' }]) });
}
`;

describe.skipIf(!wanted)('Redis faults: server without persistence', () => {
  let server: RedisServer | undefined;
  let raw: Redis;
  beforeAll(async () => {
    server = await startRedis({ needControl: true });
    raw = await server!.raw();
    if (!existsSync(DIST_REDIS)) execFileSync(process.execPath, [`${ROOT}/node_modules/typescript/bin/tsc`, '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'pipe' });
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
  });

  it('the notification connection killed with CLIENT KILL: a release sent meanwhile still wakes the waiter', async () => {
    const name = unique('client-kill');
    // A TTL long enough that only the re-read after the reconnect can explain a prompt grant.
    const [holderCoord, waiterCoord] = [await open(server!, 60), await open(server!, 60)];
    const holder = await holderCoord.mutex(name).acquire();
    const queued = queuedOnce();
    const waiting = waiterCoord.mutex(name).acquire({ onQueued: queued.onQueued });
    await queued.reached;
    const waiterBackend = backendOf(waiterCoord) as RedisBackend;
    const subscriber = waiterBackend.notifier.client;
    // The server knows the connection by its address: this client's end of the socket.
    const localPort = (subscriber as unknown as { stream: { localPort: number } }).stream.localPort;
    const list = String(await raw.client('LIST'));
    const line = list.split('\n').find((l) => l.includes(` addr=127.0.0.1:${localPort} `));
    expect(line).toMatch(/ name=baton-notifications .* sub=[1-9]/);
    const clientId = /id=(\d+)/.exec(line!)![1]!;
    const reconnected = new Promise<void>((resolve) => subscriber.once('ready', () => resolve()));
    await raw.client('KILL', 'ID', clientId);
    // Released while the waiter's subscription is down: its notification reaches nobody.
    await holder.release();
    const releasedAt = performance.now();
    await reconnected;
    const lease = await waiting;
    expect(performance.now() - releasedAt).toBeLessThan(10_000);
    expect(lease.token > holder.token).toBe(true);
    await lease.release();
    await expectNothingLeft(raw);
  });

  it('SIGSTOP of the server: the holder learns its loss by its deadline, and exclusion holds after SIGCONT', async () => {
    const ttl = 2;
    const name = unique('sigstop-server');
    const holderCoord = await open(server!, ttl);
    const waiterCoord = await open(server!, 30);
    const holder = await holderCoord.mutex(name).acquire();
    const queued = queuedOnce();
    const waiting = waiterCoord.mutex(name).acquire({ onQueued: queued.onQueued, timeoutMs: 20_000 });
    await queued.reached;
    server!.pause();
    const pausedAt = performance.now();
    let lostAfter: number;
    try {
      const reason = await aborted(holder.signal);
      lostAfter = performance.now() - pausedAt;
      expect(reason).toBeInstanceOf(LeaseLostError);
    } finally {
      server!.resume();
    }
    // Renewals go every TTL/3: the last answered one was sent at most TTL/3 before the pause.
    expect(lostAfter).toBeLessThanOrEqual(ttl * 1000 + 1000);
    expect(lostAfter).toBeGreaterThanOrEqual(((2 * ttl) / 3) * 1000 - 250);
    const successor = await waiting;
    // The holder knew of its loss before the successor was granted, and the token moved on.
    expect(holder.signal.aborted).toBe(true);
    expect(successor.token > holder.token).toBe(true);
    expect(await holder.guardedWrite([{ put: `${name}-data`, value: 'stale' }])).toBe(false);
    await successor.release();
    await expectNothingLeft(raw);
  });

  it('a holder frozen beyond its TTL is overtaken; on SIGCONT it sees its loss and its guarded write is rejected', async () => {
    const name = unique('sigstop-client');
    const dataKey = `${name}-data`;
    const holder = procs.run(
      process.execPath,
      ['--input-type=module', '-e', HOLDER],
      { ...process.env, HOLDER_URL: server!.url({ ttl: 2, prefix }), HOLDER_NAME: name, HOLDER_DATA: dataKey },
      'paused holder',
    );
    const held = JSON.parse((await holder.waitFor('stdout', /^\{"held".*$/m))[0]) as { held: string; key: string };
    const coord = await open(server!, 10);
    const queued = queuedOnce();
    const waiting = coord.mutex(name).acquire({ onQueued: queued.onQueued });
    await queued.reached;
    holder.signal('SIGSTOP');
    let successor: Lease;
    try {
      successor = await waiting;
      expect(successor.token > BigInt(held.held)).toBe(true);
      expect(await successor.guardedWrite([{ put: dataKey, value: 'from the successor' }])).toBe(true);
    } finally {
      holder.signal('SIGCONT');
    }
    const resumedAt = performance.now();
    await holder.waitFor('stdout', /"lost":"LeaseLostError"/);
    expect(performance.now() - resumedAt).toBeLessThan(3000);
    holder.send('write');
    await holder.waitFor('stdout', /"wrote":(true|false)/);
    expect(holder.output.stdout).toContain('{"wrote":false}');
    expect((await backendOf(coord).get(dataKey))?.value).toBe('from the successor');
    await successor.release();
    await procs.cleanup();
    await expectNothingLeft(raw);
  });

  it('kill -9 and restart without persistence: every hold is lost and said to be lost with the data; tokens do not repeat', async () => {
    const name = unique('restart-empty');
    const [holderCoord, waiterCoord] = [await open(server!, 3), await open(server!, 3)];
    const holder = await holderCoord.mutex(name).acquire();
    const queued = queuedOnce();
    // The waiter fails as soon as its session is found lost, before this test looks: catch it now.
    const waiterFailure = waiterCoord
      .mutex(name)
      .acquire({ onQueued: queued.onQueued, timeoutMs: 20_000 })
      .then(() => undefined, (error: unknown) => error);
    await queued.reached;
    await server!.kill();
    await server!.start();
    const reason = await aborted(holder.signal);
    expect(reason).toBeInstanceOf(LeaseLostError);
    const cause = (reason as LeaseLostError).cause;
    expect(cause).toBeInstanceOf(SessionLostError);
    expect((cause as Error).message).toMatch(/lost Baton's data.*restarted without persistence/);
    expect(await waiterFailure).toBeInstanceOf(SessionLostError);
    // Both coordinators go on with new sessions; the counter restarted at 0 on the server, but
    // revisions continue above the highest either client saw.
    const again = await waiterCoord.mutex(name).acquire({ timeoutMs: 10_000 });
    expect(again.token > holder.token).toBe(true);
    await again.release();
    raw = await server!.raw();
    await expectNothingLeft(raw);
  });
});

describe.skipIf(!wanted)('Redis faults: server with an append-only file', () => {
  let server: RedisServer | undefined;
  let raw: Redis;
  beforeAll(async () => {
    server = await startRedis({ needControl: true, persistence: true });
    raw = await server!.raw();
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
  });

  it('kill -9 and restart within the TTL: the hold survives, the waiter is served after the release, in order', async () => {
    const name = unique('restart-aof');
    const [holderCoord, waiterCoord] = [await open(server!, 10), await open(server!, 10)];
    const holder = await holderCoord.mutex(name).acquire();
    const queued = queuedOnce();
    const waiting = waiterCoord.mutex(name).acquire({ onQueued: queued.onQueued, timeoutMs: 20_000 });
    await queued.reached;
    await server!.kill();
    await server!.start();
    raw = await server!.raw();
    // The hold is still valid: a guarded write commits (it waits for the reconnect).
    expect(await holder.guardedWrite([{ put: `${name}-data`, value: 'after restart' }])).toBe(true);
    expect(holder.signal.aborted).toBe(false);
    await holder.release();
    const lease = await waiting;
    expect(lease.token > holder.token).toBe(true);
    await lease.release();
    await expectNothingLeft(raw);
  });
});
