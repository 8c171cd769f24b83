/**
 * A position report on ZooKeeper is never older than a deletion this process has already seen
 * confirmed, even when another coordinator of the process made it and this one's notifications
 * have not shown it yet (issue 11; the etcd version is etcd-positions-own-writes.test.ts). Two
 * coordinators on one server: A directly, B through a proxy the test controls. B's waiter stands
 * behind A's holder and two waiters of A. B's answers are held back; A's second waiter gives up,
 * then A releases its hold (awaited: its delete confirmed). B is then given exactly what it was
 * sent up to the giving up's notification: the state it shows still has A's released node. Any
 * report B makes from then on must not count that node.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ZooKeeperBackend } from '../../src/backends/zookeeper/index.js';
import { connect, type Coordinator } from '../../src/index.js';
import { requestFlush } from '../../src/recipes/report-pacing.js';
import { backendOf } from '../../src/testing.js';
import { keysUntil } from '../support/keys-until.js';
import { startTcpProxy } from '../support/tcp-proxy.js';
import { call } from '../support/zookeeper-inspect.js';
import { localZooKeeperAvailable, startZooKeeper, type ZooKeeperServers } from '../support/zookeeper-server.js';

// B's link goes through a proxy this file starts: local servers only (fails under CI without one).
const wanted = localZooKeeperAvailable() || process.env.CI === 'true';

describe.skipIf(!wanted)('ZooKeeper: position reports after another coordinator of the process released', () => {
  let servers: ZooKeeperServers | undefined;
  beforeAll(async () => {
    servers = await startZooKeeper(1, { needControl: true });
  }, 120_000);
  afterAll(() => servers?.stop());

  it('do not count the released node while this coordinator notifications lag behind the release', async () => {
    const [host, port] = (servers!.endpoints[0] as string).split(':') as [string, string];
    const proxy = await startTcpProxy(Number(port), host);
    const chroot = `/own-writes-${randomUUID().slice(0, 8)}`;
    const a: Coordinator = await connect(`zookeeper://${servers!.endpoints[0]}${chroot}?sessionTimeout=30000`);
    const b: Coordinator = await connect(`zookeeper://127.0.0.1:${proxy.port}${chroot}?sessionTimeout=30000`);
    const name = 'lock';
    try {
      const holder = await a.mutex(name).acquire();
      const next = a.mutex(name).acquire();
      const giveUp = new AbortController();
      const quitter = a.mutex(name).acquire({ signal: giveUp.signal });
      quitter.catch(() => {});
      await keysUntil(a, name, (keys) => keys.length === 3);
      const reports: number[] = [];
      const waiter = b.mutex(name).acquire({ onQueued: (position) => reports.push(position) });
      waiter.catch(() => {});
      // Behind the holder and two waiters: 2 waiters ahead.
      await untilTrue(() => reports.at(-1) === 2);
      const [, , quitterKey] = (await keysUntil(a, name, (keys) => keys.length === 4)) as [string, string, string, string];
      const quitterName = Buffer.from(quitterKey.slice(quitterKey.lastIndexOf('/') + 1));

      // A one-shot watch of the test's on B's connection: the client calls it right after B's
      // position feed has taken the same notification (the feed listens ahead of the client's
      // own watchers), so its call says B's view has applied the giving up.
      const bConnection = await (backendOf(b) as ZooKeeperBackend).connection();
      let bSawQuitterGone = false;
      await call((cb) => bConnection.client.getData(quitterKey, () => (bSawQuitterGone = true), cb));

      proxy.holdAnswers();
      giveUp.abort();
      await quitter.catch(() => {});
      await keysUntil(a, name, (keys) => !keys.includes(quitterKey));
      // B was sent the giving up (held back by the proxy, not yet read by B).
      await untilTrue(() => proxy.holdsAnswerWith(quitterName));

      await holder.release();
      const afterRelease = reports.length;
      // Truth from here on: A's next waiter holds, B's waiter is next in line (0).
      // B reads what it was sent up to the giving up, not the release.
      proxy.releaseHeldAnswersUpTo((held) => endOfFrameWith(held, quitterName));
      await untilTrue(() => bSawQuitterGone);
      // The flush B's view asked for on applying it runs before this one.
      await new Promise<void>((resolve) => requestFlush(resolve));
      proxy.releaseAnswers();
      await keysUntil(b, name, (keys) => keys.length === 2);
      await untilTrue(() => reports.at(-1) === 0);
      expect(reports.slice(afterRelease).filter((position) => position !== 0), `reports after the release resolved (all: ${reports})`).toEqual([]);

      await (await next).release();
      await (await waiter).release();
    } finally {
      await Promise.all([a.close(), b.close()]);
      await proxy.close();
    }
  }, 120_000);
});

/**
 * The end of the first server message in `held` that contains `bytes` (each message is a 4-byte
 * big-endian length and that many bytes); 0 if no complete message does.
 */
function endOfFrameWith(held: Buffer, bytes: Buffer): number {
  for (let at = 0; at + 4 <= held.length; ) {
    const end = at + 4 + held.readInt32BE(at);
    if (end > held.length) return 0;
    if (held.subarray(at, end).includes(bytes)) return end;
    at = end;
  }
  return 0;
}

/** Resolves once `test()` holds, checking at every turn of the event loop; fails after 10 s. */
async function untilTrue(test: () => boolean): Promise<void> {
  const deadline = performance.now() + 10_000;
  while (!test()) {
    if (performance.now() > deadline) throw new Error('condition not reached within 10 s');
    await new Promise((resolve) => setImmediate(resolve));
  }
}
