/**
 * Coordinators of one process that connect the same way share one connection: one client, one
 * Watch stream, one watched view per name (docs/etcd.md, "One connection per process"). Counted on
 * a real etcd: with 8 coordinators looping on one mutex, the process creates one watch of the name
 * and receives each put and delete once (before: one watch per coordinator, 16 events per hold).
 * Each keeps its own session and signals: closing one ends its waits alone, and a key of one that
 * vanishes is reported to it alone.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EtcdBackend } from '../../src/backends/etcd/index.js';
import type { EtcdClient } from '../../src/backends/etcd/transport/client.js';
import { ClosedError, type Coordinator, connect, LeaseLostError } from '../../src/index.js';
import { backendOf } from '../../src/testing.js';
import { type EtcdServers, localEtcdAvailable, startEtcd } from '../support/etcd-server.js';
import { until } from '../support/until.js';

const wanted = localEtcdAvailable() || !!process.env.BATON_TEST_ETCD_ENDPOINTS || process.env.CI === 'true';
const unique = (label: string) => `shared/${label}-${randomUUID().slice(0, 8)}`;

function etcdOf(coord: Coordinator): EtcdBackend {
  const backend = backendOf(coord);
  if (!(backend instanceof EtcdBackend)) throw new Error('not an etcd backend');
  return backend;
}

describe.skipIf(!wanted)('etcd: coordinators of one process share their connection', () => {
  let servers: EtcdServers | undefined;
  const coords: Coordinator[] = [];
  const open = async (url: string) => {
    const coord = await connect(url);
    coords.push(coord);
    return coord;
  };
  beforeAll(async () => {
    servers = await startEtcd();
  }, 120_000);
  afterAll(async () => {
    await Promise.all(coords.map((coord) => coord.close()));
    await servers?.stop();
  });

  it('8 coordinators looping on one mutex: the process watches the name once and receives two events per hold, not two per hold per coordinator', async () => {
    const url = servers!.url({ ttl: 10 });
    const eight = await Promise.all(Array.from({ length: 8 }, () => open(url)));
    const name = unique('loop');
    const start = Buffer.from(`${name}/`);
    // Every watch of the name created, and every event delivered to them, on every client of the process.
    const clients = new Set<EtcdClient>(eight.map((coord) => etcdOf(coord).client));
    let watchesOfName = 0;
    let events = 0;
    for (const client of clients) {
      const watches = client.watches;
      const watch = watches.watch.bind(watches);
      watches.watch = (key, end, handler) => {
        if (!key.equals(start)) return watch(key, end, handler);
        watchesOfName++;
        return watch(key, end, {
          ...handler,
          events: (delivered, revision) => {
            events += delivered.length;
            handler.events(delivered, revision);
          },
        });
      };
    }
    // Every coordinator's view of the name is live before the first hold: each create is seen.
    for (const coord of eight) await etcdOf(coord).watchPrefix(name, new AbortController().signal);

    const ROUNDS = 5;
    let holds = 0;
    let holding = 0;
    await Promise.all(
      eight.map(async (coord) => {
        const mutex = coord.mutex(name);
        for (let i = 0; i < ROUNDS; i++) {
          const lease = await mutex.acquire({ timeoutMs: 30_000 });
          holding++;
          expect(holding, 'one holder at a time').toBe(1);
          holding--;
          holds++;
          await lease.release();
        }
      }),
    );
    expect(holds).toBe(8 * ROUNDS);
    // Each hold is one create and one delete under the name: seen once by the process.
    await until(() => events >= 2 * holds);
    expect({ clients: clients.size, watchesOfName, events }).toEqual({ clients: 1, watchesOfName: 1, events: 2 * holds });
  }, 120_000);

  it('a coordinator that closes ends its own waits; another one sharing the connection keeps its hold and its wait', async () => {
    const url = servers!.url({ ttl: 10 });
    const [a, b, c] = [await open(url), await open(url), await open(url)];
    expect(etcdOf(b).client).toBe(etcdOf(a).client);
    expect(etcdOf(c).client).toBe(etcdOf(a).client);
    const name = unique('close');
    const other = unique('close-other');
    const held = await a.mutex(name).acquire();
    const queued = (coord: Coordinator) =>
      new Promise<{ granted: Promise<unknown> }>((resolve) => {
        const granted = coord.mutex(name).acquire({ timeoutMs: 60_000, onQueued: () => resolve({ granted }) });
        granted.catch(() => {});
      });
    const bWaits = await queued(b);
    const cWaits = await queued(c);
    // A change watched on another name, by b and by c.
    const bWatch = await etcdOf(b).watchPrefix(other, new AbortController().signal);
    const cWatch = await etcdOf(c).watchPrefix(other, new AbortController().signal);
    cWatch.changed.catch(() => {});

    await c.close();
    await expect(cWaits.granted).rejects.toBeInstanceOf(ClosedError);
    await expect(cWatch.changed).rejects.toBeInstanceOf(ClosedError);
    // c's key went with its lease; a's hold and b's place are untouched.
    await until(async () => (await etcdOf(a).list(name)).length === 2);
    expect(held.signal.aborted).toBe(false);
    // b's watch of the other name still fires.
    const marker = await a.mutex(other).acquire();
    await bWatch.changed;
    await marker.release();
    await held.release();
    const next = (await bWaits.granted) as { release(): Promise<void>; signal: AbortSignal };
    expect(next.signal.aborted).toBe(false);
    await next.release();
  }, 120_000);

  it('a key deleted behind its owner is reported to that coordinator alone', async () => {
    const url = servers!.url({ ttl: 10 });
    const [a, b] = [await open(url), await open(url)];
    expect(etcdOf(b).client).toBe(etcdOf(a).client);
    const name = unique('vanished');
    // Two permits: both hold at once, their keys side by side in one shared view.
    const aLease = await a.semaphore(name, { permits: 2 }).acquire();
    const bLease = await b.semaphore(name, { permits: 2 }).acquire();
    const bSession = (await etcdOf(b).session()).id;
    // A semaphore's permits are keys under <name>/leases.
    const permits = `${name}/leases`;
    const bKey = (await etcdOf(a).list(permits)).find((entry) => entry.key.slice(permits.length + 1).startsWith(bSession))?.key;
    expect(bKey).toBeDefined();
    const removed = await servers!.etcdctl(['del', bKey as string]);
    expect(removed.code, removed.stderr).toBe(0);
    await until(() => bLease.signal.aborted);
    expect(bLease.signal.reason).toBeInstanceOf(LeaseLostError);
    expect(aLease.signal.aborted).toBe(false);
    // a's session was not the one checked: it is the same lease, still usable.
    expect((await etcdOf(a).session()).signal.aborted).toBe(false);
    await aLease.release();
  }, 60_000);

  it('shares across namespaces and TTLs, keeps views per namespace, and never shares with shareConnection: false', async () => {
    const [one, two, own] = [
      await open(servers!.url({ ttl: 10, namespace: 'one/' })),
      await open(servers!.url({ ttl: 20, namespace: 'two/' })),
      await open(servers!.url({ ttl: 10, namespace: 'one/', shareConnection: false })),
    ];
    expect(etcdOf(two).client).toBe(etcdOf(one).client);
    expect(etcdOf(own).client).not.toBe(etcdOf(one).client);
    const name = unique('namespaces');
    const lease = await one.mutex(name).acquire();
    // Same name, another namespace: another key, free.
    const elsewhere = await two.mutex(name).tryAcquire();
    expect(elsewhere).toBeDefined();
    // Same namespace over its own connection: the same key, taken.
    expect(await own.mutex(name).tryAcquire()).toBeUndefined();
    await elsewhere?.release();
    await lease.release();
  }, 60_000);
});
