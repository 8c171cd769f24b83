/**
 * PostgreSQL under real faults, on a server this file starts and controls: the server killed
 * (kill -9) and restarted, the server frozen (SIGSTOP), a client process frozen beyond its TTL, and
 * the LISTEN connection terminated with pg_terminate_backend. In every case: exclusion holds with
 * fencing (a successor's token is higher, a stale holder's fenced transaction is refused), loss is
 * signalled within the TTL, and no key is left behind.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PostgresBackend } from '../../src/backends/postgres/index.js';
import { type Coordinator, connect, fencedTransaction, LeaseLostError } from '../../src/index.js';
import { backendOf } from '../../src/testing.js';
import { Peer, ensureDist } from '../interop/peers.js';
import { type PostgresServer, localPostgresAvailable, startPostgres } from '../support/postgres-server.js';
import { isCI } from '../support/servers.js';
import { type TcpProxy, startTcpProxy } from '../support/tcp-proxy.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const schema = `baton_faults_${process.pid}`;
const TTL = 2;
/** Timers on a busy 2-core machine fire late; loss must still come within the TTL plus this. */
const LATE_MS = 1000;

let server: PostgresServer | undefined;
const opened: Coordinator[] = [];
const peers: Peer[] = [];
const proxies: TcpProxy[] = [];

beforeAll(async () => {
  server = await startPostgres({ needControl: true });
  await server?.sql('CREATE TABLE inventory (sku text PRIMARY KEY, count integer NOT NULL, last_token bigint)');
  ensureDist();
}, 120_000);
afterEach(async () => {
  server?.resume();
  if (server && !server.running) await server.start();
  await Promise.all(peers.splice(0).map((peer) => peer.stop()));
  await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
  await Promise.all(opened.splice(0).map((coord) => coord.close()));
});
afterAll(async () => {
  await server?.stop();
});

const url = (ttl = TTL) => server!.url({ params: { schema, ttl } });
const open = async (ttl = TTL) => {
  const coord = await connect(url(ttl));
  opened.push(coord);
  return coord;
};
const unique = (label: string) => `faults/${label}-${randomUUID().slice(0, 8)}`;
const pgOf = (coord: Coordinator) => backendOf(coord) as unknown as PostgresBackend;
const keysOf = async (coord: Coordinator, name: string) => (await backendOf(coord).list(name)).map((entry) => entry.key);

function aborted(signal: AbortSignal): Promise<unknown> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve(signal.reason);
    else signal.addEventListener('abort', () => resolve(signal.reason), { once: true });
  });
}

function queued() {
  let resolve!: () => void;
  const reached = new Promise<void>((r) => (resolve = r));
  return { reached, onQueued: () => resolve() };
}

async function stock(sku: string): Promise<{ count: number; last_token: string | null }> {
  const [row] = await server!.sql<{ count: number; last_token: string | null }>('SELECT count, last_token FROM inventory WHERE sku = $1', [sku]);
  return row!;
}

const decrement = (sku: string, token: bigint) => (sql: { query(text: string, values?: readonly unknown[]): Promise<unknown> }) =>
  sql.query('UPDATE inventory SET count = count - 1, last_token = $2 WHERE sku = $1', [sku, String(token)]);

describe.skipIf(!localPostgresAvailable() && !isCI)('PostgreSQL faults', () => {
  it('server killed (kill -9) and restarted within the TTL: the hold survives, the waiter is granted after its release, nothing leaks', async () => {
    const name = unique('kill');
    const sku = `sku-${name}`;
    await server!.sql('INSERT INTO inventory VALUES ($1, 10, NULL)', [sku]);
    const [a, b] = await Promise.all([open(5), open(5)]);
    const lease = await a.mutex(name).acquire();
    const bQueued = queued();
    const waiter = b.mutex(name).acquire({ onQueued: bQueued.onQueued, timeoutMs: 30_000 });
    await bQueued.reached;

    await server!.kill();
    await server!.start();

    // The session row survived the crash and is renewed again: the hold is still valid.
    await fencedTransaction(a, lease, decrement(sku, lease.token));
    expect(lease.signal.aborted).toBe(false);
    await lease.release();
    const successor = await waiter;
    expect(successor.token > lease.token).toBe(true);
    await fencedTransaction(b, successor, decrement(sku, successor.token));
    expect(await stock(sku)).toEqual({ count: 8, last_token: String(successor.token) });
    await successor.release();
    expect(await keysOf(b, name)).toEqual([]);
  });

  it('server down longer than the TTL: holder and waiter learn the loss within the TTL; after the restart a new holder gets a higher token', async () => {
    const name = unique('down');
    const [a, b] = await Promise.all([open(), open()]);
    const lease = await a.mutex(name).acquire();
    const bQueued = queued();
    const waiter = b.mutex(name).acquire({ onQueued: bQueued.onQueued, timeoutMs: 30_000 }).catch((error: unknown) => error);
    await bQueued.reached;

    const killedAt = performance.now();
    await server!.kill();
    expect(await aborted(lease.signal)).toBeInstanceOf(LeaseLostError);
    const lostAfterMs = performance.now() - killedAt;
    expect((await waiter as Error).name).toBe('SessionLostError');
    const waiterLostAfterMs = performance.now() - killedAt;
    expect(lostAfterMs).toBeLessThanOrEqual(TTL * 1000 + LATE_MS);
    expect(waiterLostAfterMs).toBeLessThanOrEqual(TTL * 1000 + LATE_MS);

    await server!.start();
    const next = await b.mutex(name).acquire({ timeoutMs: 15_000 });
    expect(next.token > lease.token).toBe(true);
    // The lost holder's key is gone (its session expired on the server): only the new holder's remains.
    expect(await keysOf(b, name)).toEqual([next.key]);
    await next.release();
    expect(await keysOf(b, name)).toEqual([]);
  });

  it('server frozen (SIGSTOP) beyond the TTL: the holder learns the loss within the TTL, and after SIGCONT its fenced transaction is refused', async () => {
    const name = unique('sigstop');
    const sku = `sku-${name}`;
    await server!.sql('INSERT INTO inventory VALUES ($1, 10, NULL)', [sku]);
    const [a, b] = await Promise.all([open(), open()]);
    const lease = await a.mutex(name).acquire();

    const pausedAt = performance.now();
    server!.pause();
    expect(await aborted(lease.signal)).toBeInstanceOf(LeaseLostError);
    const lostAfterMs = performance.now() - pausedAt;
    server!.resume();
    expect(lostAfterMs).toBeLessThanOrEqual(TTL * 1000 + LATE_MS);

    const refused = await fencedTransaction(a, lease, decrement(sku, lease.token)).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(LeaseLostError);
    expect(await stock(sku)).toEqual({ count: 10, last_token: null });

    const next = await b.mutex(name).acquire({ timeoutMs: 15_000 });
    expect(next.token > lease.token).toBe(true);
    await fencedTransaction(b, next, decrement(sku, next.token));
    expect(await stock(sku)).toEqual({ count: 9, last_token: String(next.token) });
    await next.release();
    expect(await keysOf(b, name)).toEqual([]);
  });

  it('a client paused (SIGSTOP) beyond its TTL: a waiter takes over with a higher token and the paused client\'s fenced transaction is refused', async () => {
    const name = unique('paused-client');
    const sku = `sku-${name}`;
    await server!.sql('INSERT INTO inventory VALUES ($1, 10, NULL)', [sku]);
    const peer = new Peer('postgres peer', process.execPath, [join(HERE, 'postgres-peer.mjs'), url(), name]);
    peers.push(peer);
    const held = await peer.waitFor(/^HELD /, 30_000);
    const peerToken = BigInt(held.split(' ')[2]!);
    const b = await open();
    const bQueued = queued();
    const waiter = b.mutex(name).acquire({ onQueued: bQueued.onQueued, timeoutMs: 30_000 });
    await bQueued.reached;

    const pausedAt = performance.now();
    peer.child.kill('SIGSTOP');
    const successor = await waiter;
    const takenOverAfterMs = performance.now() - pausedAt;
    expect(successor.token > peerToken).toBe(true);
    // Not before the paused session could have expired on the server (its last renewal was at
    // most a third of the TTL before the pause).
    expect(takenOverAfterMs).toBeGreaterThanOrEqual((TTL * 1000 * 2) / 3 - 50);
    await fencedTransaction(b, successor, decrement(sku, successor.token));

    peer.child.kill('SIGCONT');
    peer.send(`fenced ${sku}`);
    expect(await peer.waitFor(/^FENCED /, 15_000)).toMatch(/^FENCED LeaseLostError/);
    await peer.waitFor(/^LOST /, 15_000);
    expect(await stock(sku)).toEqual({ count: 9, last_token: String(successor.token) });
    await successor.release();
    expect(await keysOf(b, name)).toEqual([]);
  });

  it('a holder cut off, whose process stops running just before the server could expire its session: its loss was already signalled when the waiter is granted', async () => {
    // A timer fires late when its process does not run at the deadline (a busy event loop, a
    // loaded machine). The loss is declared a guard ahead of the server's expiry, so a holder that
    // stops running shortly before that expiry has signalled it already. Without the guard, its
    // deadline timer falls inside the stop and the waiter is granted first.
    const name = unique('late-timer');
    const proxy = await startTcpProxy(server!.port);
    proxies.push(proxy);
    // A TTL of 5 s: a guard of 75 ms, room for the peer's own timer to run a little late too.
    const throughProxy = url(5).replace(`:${server!.port}/`, `:${proxy.port}/`);
    const peer = new Peer('postgres peer', process.execPath, [join(HERE, 'postgres-peer.mjs'), throughProxy, name]);
    peers.push(peer);
    const held = await peer.waitFor(/^HELD /, 30_000);
    const sessionId = held.split(' ')[1]!.split('/').pop()!.split('-')[0]!;
    const b = await open(5);
    const bQueued = queued();
    const waiter = b.mutex(name).acquire({ onQueued: bQueued.onQueued, timeoutMs: 30_000 });
    await bQueued.reached;

    // Cut off: no renewal of the peer's reaches the server from here on.
    proxy.silence();
    const [row] = await server!.sql<{ ms: number }>(`SELECT extract(epoch FROM expires_at) * 1000 AS ms FROM ${schema}.sessions WHERE id = $1`, [sessionId]);
    const expiresAt = Number(row!.ms);
    // The fault is timed to the server's expiry: stopped from 20 ms before it to 40 ms after.
    await new Promise((resolve) => setTimeout(resolve, expiresAt - 20 - Date.now()));
    peer.child.kill('SIGSTOP');
    setTimeout(() => peer.child.kill('SIGCONT'), 60);
    const successor = await waiter;
    const grantedAt = performance.timeOrigin + performance.now();
    const lostAt = Number((await peer.waitFor(/^LOST /, 15_000)).split(' ')[1]);

    expect(lostAt).toBeLessThan(expiresAt);
    expect(lostAt).toBeLessThan(grantedAt);
    await successor.release();
    expect(await keysOf(b, name)).toEqual([]);
  });

  it('a waiter paused (SIGSTOP) beyond its TTL while its blocker releases is not granted on resume', async () => {
    const name = unique('paused-waiter');
    const a = await open();
    const lease = await a.mutex(name).acquire();
    const peer = new Peer('postgres peer', process.execPath, [join(HERE, 'postgres-peer.mjs'), url(), name]);
    peers.push(peer);
    await peer.waitFor(/^WAITING/, 30_000);
    // The peer's key is queued behind the lease once the listing shows two keys.
    for (let i = 0; (await keysOf(a, name)).length < 2; i++) {
      if (i > 200) throw new Error('the peer never queued');
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    peer.child.kill('SIGSTOP');
    // The release's notification reaches the frozen peer's socket; its session expires meanwhile.
    await lease.release();
    await new Promise((resolve) => setTimeout(resolve, TTL * 1000 + 500)); // the pause itself, longer than the TTL
    peer.child.kill('SIGCONT');
    const outcome = await peer.waitFor(/^(HELD|FAILED)/, 15_000);
    // What matters is that it is not granted. Usually the overdue deadline is seen first
    // (SessionLostError); when the server has already dropped the frozen client's connection, the
    // first request to fail says so (BackendError) before the deadline check runs.
    expect(outcome).toMatch(/^FAILED (SessionLostError|BackendError)/);
  });

  it('the LISTEN connection terminated (pg_terminate_backend): a release while it is down still wakes the waiter, and an own key deleted while it is down is reported lost', async () => {
    const name = unique('listen');
    // b logs in as its own role, so that its LISTEN connection can be kept from coming back
    // (NOLOGIN) while the release happens: the notification is then surely missed.
    const role = `baton_listen_${process.pid}`;
    await server!.sql(`CREATE ROLE ${role} LOGIN SUPERUSER PASSWORD 'listen'`).catch(() => {});
    // A long TTL: the expiry timers, which would also end the waits after up to a TTL, must not
    // be what rescues them here.
    const a = await open(30);
    const b = await connect(server!.url({ user: role, password: 'listen', params: { schema, ttl: 30 } }));
    opened.push(b);
    const lease = await a.mutex(name).acquire();
    const bQueued = queued();
    const waiter = b.mutex(name).acquire({ onQueued: bQueued.onQueued, timeoutMs: 8000 });
    await bQueued.reached;
    const listener = pgOf(b).listener;
    expect(listener.connections).toBe(1);

    const outage = async (during: () => Promise<void>) => {
      await server!.sql(`ALTER ROLE ${role} NOLOGIN`);
      await server!.sql('SELECT pg_terminate_backend($1)', [listener.pid]);
      await during();
      await server!.sql(`ALTER ROLE ${role} LOGIN`);
    };
    await outage(() => lease.release());
    const successor = await waiter;
    expect(successor.token > lease.token).toBe(true);
    expect(listener.connections).toBe(2);

    await outage(() => server!.sql(`DELETE FROM ${schema}.keys WHERE key = $1`, [successor.key]).then(() => {}));
    const notLost = new Promise((resolve) => setTimeout(() => resolve('not lost within 8 s'), 8000).unref());
    expect(await Promise.race([aborted(successor.signal), notLost])).toBeInstanceOf(LeaseLostError);
    expect(listener.connections).toBe(3);
    expect(await keysOf(b, name)).toEqual([]);
  });
});
