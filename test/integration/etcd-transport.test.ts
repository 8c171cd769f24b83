/**
 * The etcd transport under real faults on one etcd member: connections cut through a loopback
 * TCP proxy while a watch restarts, answers lost after a create committed, a create committing
 * after its withdrawal, a whole outage and
 * restart; and two guarantees that need no fault: reads never older than a completed write, and
 * contenders of one coordinator queued in call order.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, type Coordinator, connect, type Lease } from '../../src/index.js';
import type { EtcdSession } from '../../src/backends/etcd/session.js';
import { backendOf } from '../../src/testing.js';
import { type EtcdServers, localEtcdAvailable, startEtcd } from '../support/etcd-server.js';
import { watchSchedulingLag } from '../support/scheduling-lag.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { until } from '../support/until.js';

const wanted = localEtcdAvailable() || process.env.CI === 'true';
const unique = (label: string) => `transport/${label}-${randomUUID().slice(0, 8)}`;

let servers: EtcdServers | undefined;
const coords: Coordinator[] = [];
const proxies: TcpProxy[] = [];

beforeAll(async () => {
  servers = await startEtcd({ needControl: true });
}, 120_000);
afterAll(async () => {
  await Promise.all(coords.map((coord) => coord.close().catch(() => {})));
  await Promise.all(proxies.map((proxy) => proxy.close()));
  await servers?.stop();
});

async function open(url: string): Promise<Coordinator> {
  const coord = await connect(url);
  coords.push(coord);
  return coord;
}

/** A proxy in front of the member, and a URL that reaches the member only through it. */
async function proxied(ttl: number): Promise<{ proxy: TcpProxy; url: string }> {
  const port = Number(servers!.endpoints[0]!.split(':')[1]);
  const proxy = await startTcpProxy(port);
  proxies.push(proxy);
  return { proxy, url: `etcd://127.0.0.1:${proxy.port}?ttl=${ttl}` };
}

/** etcd's current revision, read with etcdctl. */
async function currentRevision(): Promise<number> {
  const result = await servers!.etcdctl(['get', 'revision-probe', '-w', 'json']);
  return Number(JSON.parse(result.stdout).header.revision);
}

/** Keys put under `prefix` after `revision`, replayed from etcd's history by an etcdctl watch. */
async function createdSince(revision: number, prefix: string): Promise<string[]> {
  // The watch never ends by itself: it is stopped after it has replayed the history.
  const result = await servers!.etcdctl(['watch', '--prefix', `--rev=${revision + 1}`, prefix], { timeoutMs: 1500 });
  const lines = result.stdout.split('\n');
  return lines.flatMap((line, index) => (line === 'PUT' ? [lines[index + 1]!] : []));
}

/** Settles `promise` into a tagged result with the time it took from `since`. */
async function timed<T>(promise: Promise<T>, since: number): Promise<{ value?: T; error?: unknown; ms: number }> {
  try {
    const value = await promise;
    return { value, ms: performance.now() - since };
  } catch (error) {
    return { error, ms: performance.now() - since };
  }
}

describe.skipIf(!wanted)('etcd transport under faults', () => {
  it('a double cut during a watch restart loses no release: the waiter is granted at once', async () => {
    const { proxy, url } = await proxied(30);
    const waiterCoord = await open(url);
    const holderCoord = await open(servers!.url({ ttl: 30 }));
    // A few rounds, the second cut at different moments of the restarted watch's catch-up.
    for (const catchUpMs of [20, 60, 120]) {
      const name = unique('double-cut');
      const holder = await holderCoord.mutex(name).acquire();
      const waiting = waiterCoord.mutex(name).acquire({ timeoutMs: 8000 });
      await until(async () => (await backendOf(holderCoord).list(name)).length === 2, 'the waiter queued', 5000);
      // First cut; the release lands while the waiter is disconnected, so its watch must catch up.
      const before = proxy.accepted;
      proxy.cut();
      await holder.release();
      const releasedAt = performance.now();
      await until(() => proxy.accepted > before && proxy.open > 0, 'the waiter reconnected', 5000);
      // Second cut while the restarted watch is catching up.
      await new Promise((resolve) => setTimeout(resolve, catchUpMs));
      proxy.cut();
      const result = await timed(waiting, releasedAt);
      expect(result.error).toBeUndefined();
      expect(result.ms).toBeLessThan(2000);
      const lease = result.value as Lease;
      expect(lease.token > holder.token).toBe(true);
      await lease.release();
    }
  }, 40_000);

  it('an enqueue whose answer is lost leaves no orphan: the key is withdrawn and the next acquire does not queue behind it', async () => {
    const name = unique('answer-lost');
    const { proxy, url } = await proxied(30);
    const coord = await open(url);
    const observer = await open(servers!.url({ ttl: 30 }));
    const leaseHex = (await backendOf(coord).session(AbortSignal.timeout(5000))).id;
    const startRevision = await currentRevision();
    // Requests reach etcd, answers never come back: the create commits, its answer is lost.
    proxy.deafen();
    const lag = watchSchedulingLag();
    const calledAt = performance.now();
    const attempt = await timed(coord.mutex(name).acquire({ timeoutMs: 1500 }), calledAt);
    expect(attempt.error).toBeDefined();
    expect((attempt.error as Error).name).toBe('TimeoutError');
    // Time this process was not scheduled after the deadline is the machine's, not the library's.
    expect(attempt.ms - lag.notRunningMs(calledAt + 1500, calledAt + attempt.ms)).toBeLessThan(1500 + 250);
    lag.stop();
    // The create did commit. Its withdrawal may already have committed too (delete requests also
    // reach etcd while answers are lost), so the history is read rather than the current keys.
    expect(await createdSince(startRevision, name)).toEqual([`${name}/${leaseHex}`]);
    proxy.restore();
    // The uncertain key is found and withdrawn once the member answers again.
    await until(async () => (await backendOf(observer).list(name)).length === 0, 'the orphan withdrawn', 5000);
    // No orphan of its own ahead of it: the session's next acquire is granted at once.
    const lease = await coord.mutex(name).acquire({ timeoutMs: 3000 });
    expect(lease.key.startsWith(`${name}/${leaseHex}`)).toBe(true);
    await lease.release();
    expect(await backendOf(observer).list(name)).toEqual([]);
  }, 20_000);

  it('a create that commits after its withdrawal was confirmed is deleted at once: the name is not blocked for the session\'s life', async () => {
    const name = unique('late-create');
    const { proxy, url } = await proxied(30);
    const coord = await open(url);
    const other = await open(servers!.url({ ttl: 30 }));
    const session = (await backendOf(coord).session(AbortSignal.timeout(5000))) as EtcdSession;
    // The link goes silent: the create never gets an answer, the acquire times out, and the
    // withdrawal is retried until the link is back, then confirmed (there was nothing to delete).
    proxy.silence();
    const attempt = await timed(coord.mutex(name).acquire({ timeoutMs: 300 }), performance.now());
    expect((attempt.error as Error)?.name).toBe('TimeoutError');
    proxy.restore();
    await until(() => session.pendingRemovals === 0, 'the withdrawal confirmed', 10_000);
    expect(await backendOf(other).list(name)).toEqual([]);
    // Now the create commits late (as one stuck in a frozen member's buffers does): the same key,
    // attached to the session's lease, written here by etcdctl at a moment the test controls.
    const late = await servers!.etcdctl(['put', `--lease=${session.id}`, `${name}/${session.id}`, '']);
    expect(late.code, late.stderr).toBe(0);
    // Nobody else may queue behind it for the 30 s the session lives: it must go at once.
    const granted = await timed(other.mutex(name).acquire({ timeoutMs: 3000 }), performance.now());
    expect(granted.error).toBeUndefined();
    expect(session.lateCreates.found).toBe(1);
    await (granted.value as Lease).release();
    // The withdrawn name is never used again by the session; its next acquire takes another.
    const lease = await coord.mutex(name).acquire({ timeoutMs: 3000 });
    expect(lease.key).toBe(`${name}/${session.id}-2`);
    await lease.release();
    expect(await backendOf(other).list(name)).toEqual([]);
  }, 30_000);

  it('a member that closes every connection at once is an outage, not a TLS/plaintext mismatch: retried until the timeout', async () => {
    const { proxy } = await proxied(30);
    proxy.refuse();
    for (const url of [`etcd://127.0.0.1:${proxy.port}`, `etcd+https://127.0.0.1:${proxy.port}`]) {
      const error = await connect(url, { timeoutMs: 1500 }).catch((e: unknown) => e);
      expect((error as Error).name, url).toBe('TimeoutError');
      expect(error, url).not.toBeInstanceOf(ConfigError);
    }
    // Connections were tried again and again (not given up after a probe).
    expect(proxy.accepted).toBeGreaterThan(4);
  }, 20_000);

  it('leader() and status reads are never older than a write that completed before them', async () => {
    const name = unique('linearizable');
    const [leaderCoord, readerCoord, churnCoord] = (await Promise.all([0, 1, 2].map(() => open(servers!.url({ ttl: 30 }))))) as [Coordinator, Coordinator, Coordinator];
    const leadership = await leaderCoord.election(name).campaign('v0');
    // The reader keeps a watched view of the name (a queued campaign of its own).
    const queued = readerCoord.election(name).campaign('reader', { timeoutMs: 30_000 });
    await until(async () => (await backendOf(leaderCoord).list(name)).length === 2, 'the reader queued', 5000);
    // Others come and go behind the leader all the time: the reader's view keeps getting events.
    let churning = true;
    const churn = (async () => {
      // Campaigns (one name serves one recipe kind) that queue, give up and withdraw.
      while (churning) await churnCoord.election(name).campaign('churn', { timeoutMs: 10 }).catch(() => {});
    })();
    const stale: string[] = [];
    for (let i = 1; i <= 150; i++) {
      await leadership.proclaim(`v${i}`);
      const seen = await readerCoord.election(name).leader();
      if (seen?.value !== `v${i}`) stale.push(`after v${i}: ${seen?.value}`);
    }
    churning = false;
    await churn;
    expect(stale).toEqual([]);
    await leadership.resign();
    await (await queued).resign();
  }, 30_000);

  it('acquires started in one tick from one coordinator queue in call order', async () => {
    const name = unique('call-order');
    const coord = await open(servers!.url({ ttl: 30 }));
    const entered: number[] = [];
    const calls = 60;
    await Promise.all(
      Array.from({ length: calls }, (_, i) =>
        coord.mutex(name).withLock(async () => {
          entered.push(i);
        }, { timeoutMs: 30_000 }),
      ),
    );
    const outOfOrder = entered.filter((call, index) => call !== index);
    expect(outOfOrder).toEqual([]);
  }, 40_000);

  it('after an outage, the next waiter is granted within 1 s of the member serving again', async () => {
    const name = unique('outage');
    const [holderCoord, waiterCoord] = [await open(servers!.url({ ttl: 60 })), await open(servers!.url({ ttl: 60 }))];
    const holder = await holderCoord.mutex(name).acquire();
    const waiting = waiterCoord.mutex(name).acquire({ timeoutMs: 40_000 });
    await until(async () => (await backendOf(holderCoord).list(name)).length === 2, 'the waiter queued', 5000);
    await servers!.stopMember(0, true);
    // Long enough for a client whose reconnect backoff grows to back off far.
    await new Promise((resolve) => setTimeout(resolve, 7000));
    const releasing = holder.release();
    await servers!.startMember(0);
    const servingAt = performance.now();
    await releasing;
    const result = await timed(waiting, servingAt);
    expect(result.error).toBeUndefined();
    expect(result.ms).toBeLessThan(1000);
    await (result.value as Lease).release();
  }, 60_000);
});
