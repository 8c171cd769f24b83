/**
 * The dashboard in a real browser (Debian's headless Chromium): a waiter appears, moves up and is
 * granted, each step pushed to the page by the backend's watch: on the embedded backend, a real
 * ZooKeeper and a real Redis. Also the page's data as JSON, and the `baton dashboard` command
 * against a real etcd.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Browser, chromium, type Page } from 'playwright-core';
import { connect, type Coordinator, type DashboardSnapshot, type DoubleBarrier, InvalidArgumentError, type Lease, serveDashboard } from '../../src/index.js';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type EtcdServers, startEtcd } from '../support/etcd-server.js';
import { type RedisServer, startRedis } from '../support/redis-server.js';
import { serverUnavailable } from '../support/servers.js';
import { startZooKeeper, type ZooKeeperServers } from '../support/zookeeper-server.js';

const CHROMIUM = process.env.BATON_TEST_CHROMIUM ?? '/usr/bin/chromium';

let browser: Browser | undefined;
beforeAll(async () => {
  if (!existsSync(CHROMIUM)) return serverUnavailable('Chromium', `install the Debian "chromium" package (${CHROMIUM})`);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});
afterAll(async () => {
  await browser?.close();
});

/** The rows of one name's table as the page shows them: [position, state, token]. */
async function rowsOf(page: Page, name: string): Promise<string[][]> {
  return page.$$eval(`section[data-name="${name}"] tbody tr`, (rows) =>
    rows.map((row) => ['position', 'state', 'token'].map((cls) => row.querySelector(`td.${cls}`)?.textContent ?? '')),
  );
}

async function until(page: Page, name: string, expected: string[][]): Promise<void> {
  // The predicate runs in the page, so it is given as source: this project compiles without DOM types.
  const rowsNow = `JSON.stringify([...document.querySelectorAll(${JSON.stringify(`section[data-name="${name}"] tbody tr`)})].map((row) =>
    ['position', 'state', 'token'].map((cls) => row.querySelector('td.' + cls)?.textContent ?? '')))`;
  const shown = `${rowsNow} === ${JSON.stringify(JSON.stringify(expected))}`;
  await page.waitForFunction(shown, undefined, { timeout: 10_000 }).catch(async (error) => {
    throw new Error(`page shows ${JSON.stringify(await rowsOf(page, name))}, expected ${JSON.stringify(expected)}`, { cause: error });
  });
}

/**
 * Three coordinators from `open` take one mutex in turn while a fourth serves the dashboard: the
 * page shows the holder, a waiter appearing, a second one behind it, the first waiter granted and
 * moving up, and the name empty at the end. `check` sees the snapshot while three are in line.
 */
async function waiterMovesUp(
  browser: Browser,
  coords: Coordinator[],
  open: () => Promise<Coordinator>,
  check: (snapshot: DashboardSnapshot, name: string) => void = () => {},
): Promise<void> {
  const prefix = `dash-${randomUUID().slice(0, 8)}`;
  const name = `${prefix}/jobs/nightly`;
  const [viewer, a, b, c] = await Promise.all([open(), open(), open(), open()]);
  coords.push(viewer, a, b, c);
  await using dashboard = await serveDashboard(viewer, { prefix });
  const page = await browser.newPage();
  try {
    await page.goto(dashboard.url);
    await page.getByText('Nobody holds or waits').waitFor({ timeout: 10_000 });

    const first = await a.mutex(name).acquire();
    await until(page, name, [['holds', 'holding', String(first.token)]]);

    let queued!: () => void;
    const inLine = new Promise<void>((resolve) => (queued = resolve));
    const second = b.mutex(name).acquire({ onQueued: () => queued() });
    await inLine;
    const waitingToken = (await b.mutex(name).status()).waiters[0]!.token;
    await until(page, name, [['holds', 'holding', String(first.token)], ['#0', 'waiting', String(waitingToken)]]);

    let queuedThird!: () => void;
    const thirdInLine = new Promise<void>((resolve) => (queuedThird = resolve));
    const third = c.mutex(name).acquire({ onQueued: (ahead) => ahead === 1 && queuedThird() });
    await thirdInLine;
    const thirdToken = (await c.mutex(name).status()).waiters[1]!.token;
    await until(page, name, [['holds', 'holding', String(first.token)], ['#0', 'waiting', String(waitingToken)], ['#1', 'waiting', String(thirdToken)]]);
    check(dashboard.snapshot!, name);

    await first.release();
    const secondLease: Lease = await second;
    expect(secondLease.token).toBe(waitingToken);
    await until(page, name, [['holds', 'holding', String(waitingToken)], ['#0', 'waiting', String(thirdToken)]]);
    if (process.env.BATON_DASHBOARD_SCREENSHOT) await page.screenshot({ path: process.env.BATON_DASHBOARD_SCREENSHOT, fullPage: true });

    await secondLease.release();
    const thirdLease = await third;
    await until(page, name, [['holds', 'holding', String(thirdToken)]]);
    await thirdLease.release();
    await page.getByText('Nobody holds or waits').waitFor({ timeout: 10_000 });
  } finally {
    await page.close();
  }
}

/**
 * Three members from `open` enter a double barrier of three while two dashboards watch: one of
 * every name, one of the barrier's prefix. Both show it under its own name, kind "double
 * barrier", its members in the order `DoubleBarrier.status()` gives, waiting for the rest, then
 * all arrived; never a `.baton/` key as a name; and nothing once all have left. On `page` (the
 * prefix's dashboard), the same rows.
 */
async function doubleBarrierShown(coords: Coordinator[], open: () => Promise<Coordinator>, page?: Page): Promise<void> {
  const prefix = `dash-${randomUUID().slice(0, 8)}`;
  const name = `${prefix}/jobs/x`;
  const [viewer, a, b, c] = await Promise.all([open(), open(), open(), open()]);
  coords.push(viewer, a, b, c);
  await using everything = await serveDashboard(viewer);
  await using underPrefix = await serveDashboard(viewer, { prefix });
  const dashboards = [everything, underPrefix];
  const shown = (snapshot: DashboardSnapshot) => snapshot.names.find((entry) => entry.name === name);
  const [first, second, third] = [a, b, c].map((coord) => coord.doubleBarrier(name, { members: 3 })) as [DoubleBarrier, DoubleBarrier, DoubleBarrier];
  // Both dashboards are awaited to the end, so a failure says what each one showed.
  const onBoth = async (ready: (snapshot: DashboardSnapshot) => boolean): Promise<DashboardSnapshot[]> => {
    const results = await Promise.allSettled(dashboards.map((d) => until200(d.url, ready)));
    const failed = results.flatMap((result, i) =>
      result.status === 'rejected' ? [`${i === 0 ? 'every name' : `prefix ${prefix}`}: ${(result.reason as Error).message}`] : [],
    );
    if (failed.length > 0) throw new Error(failed.join('; '));
    return results.map((result) => (result as PromiseFulfilledResult<DashboardSnapshot>).value);
  };
  const checkShown = async (count: number, ready: boolean): Promise<void> => {
    const snapshots = await onBoth((s) => shown(s)?.members?.length === count && shown(s)?.ready === ready);
    const status = await viewer.doubleBarrier(name, { members: 3 }).status();
    expect(status.ready).toBe(ready);
    for (const snapshot of snapshots) {
      expect(snapshot.names.filter((entry) => entry.name.startsWith('.baton'))).toEqual([]);
      expect(shown(snapshot)).toMatchObject({ kind: 'double barrier', ready, holders: [], waiters: [] });
      expect(shown(snapshot)!.members!.map((m) => m.token)).toEqual(status.members.map((m) => String(m.token)));
    }
    if (page) {
      const rows = status.members.map((m, i) => [`entered ${i + 1}`, ready ? 'through' : 'waiting', String(m.token)]);
      await until(page, name, rows);
    }
  };

  await page?.goto(underPrefix.url);
  const entering: Promise<void>[] = [];
  const enter = (barrier: DoubleBarrier) => {
    const entered = barrier.enter();
    // Left pending if the test fails first; the coordinators' closing then rejects it.
    entered.catch(() => {});
    entering.push(entered);
  };
  enter(first);
  await onBoth((s) => shown(s)?.members?.length === 1);
  enter(second);
  await checkShown(2, false);
  enter(third);
  await Promise.all(entering);
  await checkShown(3, true);
  await Promise.all([first.leave(), second.leave(), third.leave()]);
  await onBoth((s) => shown(s) === undefined);
}

describe('baton dashboard in headless Chromium', () => {
  const coords: Coordinator[] = [];
  afterAll(async () => {
    await Promise.all(coords.map((coord) => coord.close()));
  });

  it('shows a waiter appear, move up and be granted, pushed live', async (context) => {
    if (!browser) return context.skip();
    await waiterMovesUp(browser, coords, () => connect());
  });

  it('tells the recipes apart and serves the same state as JSON', async () => {
    const prefix = `dash-${randomUUID().slice(0, 8)}`;
    const [viewer, a, b] = await Promise.all([connect(), connect(), connect()]);
    coords.push(viewer, a, b);
    await using dashboard = await serveDashboard(viewer, { prefix });
    const leader = await a.election(`${prefix}/scheduler`).campaign('host-a:42');
    const reader = await a.readWriteLock(`${prefix}/config`).read();
    const permit = await b.semaphore(`${prefix}/gpus`, { permits: 2 }).acquire();
    const snapshot = await until200(dashboard.url, (s) => s.names.length === 3);
    const kinds = Object.fromEntries(snapshot.names.map((n) => [n.name, n.kind]));
    expect(kinds).toEqual({ [`${prefix}/config`]: 'read-write lock', [`${prefix}/gpus`]: 'semaphore', [`${prefix}/scheduler`]: 'election' });
    expect(snapshot.names.find((n) => n.kind === 'election')?.leader).toBe('host-a:42');
    expect(snapshot.names.find((n) => n.kind === 'semaphore')?.holders.map((m) => m.token)).toEqual([String(permit.token)]);
    await Promise.all([leader.resign(), reader.release(), permit.release()]);
  });

  it('shows a double barrier under its own name, with and without a prefix', async () => {
    const page = await browser?.newPage();
    try {
      await doubleBarrierShown(coords, () => connect(), page);
    } finally {
      await page?.close();
    }
  });

  it('refuses bad options at once', async () => {
    const coord = await connect();
    coords.push(coord);
    await expect(serveDashboard(coord, { port: 70000 })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(serveDashboard(coord, { prefix: '/bad//prefix' })).rejects.toBeInstanceOf(InvalidArgumentError);
  });
});

describe('the dashboard on ZooKeeper and Redis, in headless Chromium', () => {
  const coords: Coordinator[] = [];
  let zk: ZooKeeperServers | undefined;
  let redis: RedisServer | undefined;
  beforeAll(async () => {
    [zk, redis] = await Promise.all([startZooKeeper(1), startRedis()]);
  }, 120_000);
  afterAll(async () => {
    await Promise.all(coords.map((coord) => coord.close()));
    await Promise.all([zk?.stop(), redis?.stop()]);
  });

  it('ZooKeeper: a waiter appears, moves up and is granted, pushed by the watches of the name nodes', async (context) => {
    if (!browser || !zk) return context.skip();
    const chroot = `/baton-dashboard-${process.pid}`;
    await waiterMovesUp(browser, coords, () => connect(zk!.url({ chroot })), (snapshot, name) => {
      const members = snapshot.names.find((entry) => entry.name === name)!;
      const owners = [...members.holders, ...members.waiters].map((member) => member.session);
      // Each contender's owner is its ZooKeeper session; the server tells no other client's time left.
      expect(new Set(owners).size).toBe(3);
      for (const owner of owners) expect(owner).toMatch(/^0x[0-9a-f]{16}$/);
      expect(snapshot.sessions.map((session) => session.remainingMs)).toEqual([undefined, undefined, undefined]);
    });
  });

  it('ZooKeeper: a double barrier under its own name, with and without a prefix', async (context) => {
    if (!zk) return context.skip();
    const chroot = `/baton-dashboard-barrier-${process.pid}`;
    await doubleBarrierShown(coords, () => connect(zk!.url({ chroot })));
  });

  it('Redis: a double barrier under its own name, with and without a prefix', async (context) => {
    if (!redis) return context.skip();
    await doubleBarrierShown(coords, () => connect(redis!.url({ prefix: `dash-barrier-${process.pid}:` })));
  });

  it('Redis: a waiter appears, moves up and is granted, pushed by the pattern subscription, with each session\'s time left', async (context) => {
    if (!browser || !redis) return context.skip();
    const ttl = 5;
    await waiterMovesUp(browser, coords, () => connect(redis!.url({ ttl, prefix: `dash-${process.pid}:` })), (snapshot, name) => {
      const members = snapshot.names.find((entry) => entry.name === name)!;
      const owners = new Set([...members.holders, ...members.waiters].map((member) => member.session));
      expect(owners.size).toBe(3);
      const left = snapshot.sessions.filter((session) => owners.has(session.id)).map((session) => session.remainingMs);
      expect(left).toHaveLength(3);
      for (const ms of left) {
        expect(ms).toBeGreaterThan(0);
        expect(ms).toBeLessThanOrEqual(ttl * 1000);
      }
    });
  });
});

describe('baton dashboard against a real etcd', () => {
  let etcd: EtcdServers | undefined;
  beforeAll(async () => {
    etcd = await startEtcd();
  });
  afterAll(async () => {
    await etcd?.stop();
  });

  it('shows a double barrier under its own name, with and without a prefix', async (context) => {
    if (!etcd) return context.skip();
    const coords: Coordinator[] = [];
    try {
      await doubleBarrierShown(coords, () => connect(etcd!.url()));
    } finally {
      await Promise.all(coords.map((coord) => coord.close()));
    }
  });

  it('serves holders, waiters and lease time left, pushed by the watch of the prefix', async (context) => {
    if (!etcd) return context.skip();
    const prefix = `dash-${randomUUID().slice(0, 8)}`;
    const main = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
    const child = spawn(process.execPath, [main, 'dashboard', '--backend', etcd.url(), prefix], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          const found = /baton dashboard: (http:\/\/\S+)/.exec(out);
          if (found) resolve(found[1]!);
        });
        child.once('exit', (code) => reject(new Error(`baton dashboard exited with ${code}`)));
      });
      const [a, b] = await Promise.all([connect(etcd.url({ ttl: 5 })), connect(etcd.url())]);
      const holder = await a.mutex(`${prefix}/backup`).acquire();
      let queued!: () => void;
      const inLine = new Promise<void>((resolve) => (queued = resolve));
      const waiter = b.mutex(`${prefix}/backup`).acquire({ onQueued: () => queued() });
      await inLine;
      const snapshot = await until200(url, (s) => s.names[0]?.waiters.length === 1);
      const [entry] = snapshot.names;
      expect(entry?.kind).toBe('mutex');
      expect(entry?.holders.map((m) => m.token)).toEqual([String(holder.token)]);
      const holderSession = snapshot.sessions.find((session) => session.id === entry?.holders[0]?.session);
      expect(holderSession?.remainingMs).toBeGreaterThan(0);
      expect(holderSession?.remainingMs).toBeLessThanOrEqual(5000);
      await holder.release();
      await (await waiter).release();
      await until200(url, (s) => s.names.length === 0);
      await Promise.all([a.close(), b.close()]);
    } finally {
      child.kill('SIGINT');
    }
  });
});

/**
 * Reads /snapshot.json until `ready` holds; each read follows a pushed change, bounded in count.
 * Fails after 10 s without one, naming what the last snapshot showed.
 */
async function until200(url: string, ready: (snapshot: DashboardSnapshot) => boolean): Promise<DashboardSnapshot> {
  const events = await fetch(new URL('events', url));
  const reader = events.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let last: DashboardSnapshot | undefined;
  let timedOut = false;
  const timer = setTimeout(() => ((timedOut = true), void reader.cancel()), 10_000);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) {
        const shown = JSON.stringify(last?.names.map((entry) => ({ name: entry.name, kind: entry.kind, ready: entry.ready, members: entry.members?.length })));
        throw new Error(timedOut ? `no snapshot as awaited within 10 s; the last showed ${shown}` : 'event stream ended');
      }
      buffer += value;
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const message = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = /^data: (.*)$/m.exec(message)?.[1];
        if (message.startsWith('event: snapshot') && data) {
          const snapshot = JSON.parse(data) as DashboardSnapshot;
          last = snapshot;
          if (ready(snapshot)) {
            const json = (await (await fetch(new URL('snapshot.json', url))).json()) as DashboardSnapshot;
            return json;
          }
        }
      }
    }
  } finally {
    clearTimeout(timer);
    await reader.cancel();
  }
}
