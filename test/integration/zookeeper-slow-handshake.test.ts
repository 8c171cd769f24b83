/**
 * A slow connect must not cost the new session: the "proved nothing for half the timeout" rule
 * that moves a client off a server counts from the server's handshake answer, and the session's
 * loss deadline from the handshake the server accepted, not from when the connect began. Answers
 * are held back, and early attempts closed, by a TCP proxy this file controls, as a cold ensemble
 * does while its leader settles.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setTimeout as delay } from 'node:timers/promises';
import { ZkConnection } from '../../src/backends/zookeeper/connection.js';
import { localZooKeeperAvailable, startZooKeeper, type ZooKeeperServers } from '../support/zookeeper-server.js';
import { serverUnavailable } from '../support/servers.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { until } from '../support/until.js';

// The client's link goes through a proxy in front of a server this file starts: local servers only.
const available = localZooKeeperAvailable();
if (!available) serverUnavailable('ZooKeeper slow-handshake test', 'it puts a proxy in front of its own server: install java and the Debian "zookeeper" package');

describe.skipIf(!available)('a slow handshake', () => {
  let servers: ZooKeeperServers;
  let proxy: TcpProxy;
  beforeAll(async () => {
    servers = (await startZooKeeper(1, { needControl: true }))!;
    proxy = await startTcpProxy(Number(servers.endpoints[0]!.split(':')[1]));
  }, 60_000);
  afterAll(async () => {
    await proxy?.close();
    await servers?.stop();
  });

  it('keeps the connection when the handshake answer and the first heartbeat answer come late', async () => {
    // Long enough that timer lag on a loaded machine stays well inside every margin below.
    const timeout = 10_000;
    proxy.holdAnswers();
    const startedAt = performance.now();
    const opening = ZkConnection.open(
      { endpoints: [`127.0.0.1:${proxy.port}`], chroot: '', sessionTimeout: timeout, auth: undefined },
      { timeoutMs: timeout },
    );
    await until(() => proxy.heldBytes > 0, "the server's handshake answer reached the proxy", timeout);
    // The handshake answer arrives 0.4 of the timeout after the connect began (within its bound).
    await delay(Math.max(0, startedAt + 0.4 * timeout - performance.now()));
    proxy.releaseAnswers();
    // From here on answers are held again: the heartbeat sent on connecting goes unanswered.
    proxy.holdAnswers();
    const connection = await opening;
    const connectedAt = performance.now();
    try {
      expect(proxy.accepted).toBe(1);
      // A silence of 0.3 of the timeout since the handshake answer: under half the timeout, so the
      // connection stays. (Counted from the connect's start it is 0.7: a heartbeat tick, every
      // fifth of the timeout, would drop the connection on the way.)
      await delay(Math.max(0, connectedAt + 0.3 * timeout - performance.now()));
      proxy.releaseAnswers();
      await connection.sync();
      expect(connection.alive).toBe(true);
      expect({ reconnects: connection.reconnects, accepted: proxy.accepted, open: proxy.open }).toEqual({ reconnects: 0, accepted: 1, open: 1 });
    } finally {
      await connection.close();
    }
  }, 60_000);

  it("counts a new session's deadline from the accepted handshake, not from the first attempt", async () => {
    const timeout = 10_000;
    // Every attempt in the first 0.85 of the timeout is closed at once by the proxy (as a server
    // that is not serving yet closes it); the client tries again until one goes through.
    proxy.refuse();
    const startedAt = performance.now();
    const opening = ZkConnection.open(
      { endpoints: [`127.0.0.1:${proxy.port}`], chroot: '', sessionTimeout: timeout, auth: undefined },
      { timeoutMs: 2 * timeout },
    );
    await delay(Math.max(0, startedAt + 0.85 * timeout - performance.now()));
    const refusedAttempts = proxy.accepted;
    proxy.restore();
    // The handshake passes; the first heartbeat's answer is held for 0.2 of the timeout, which
    // takes it past 0.9 of the timeout after the first attempt (its deadline counted from there,
    // less the ping allowance) but far inside the session the server created at 0.85.
    proxy.holdAnswers();
    await until(() => proxy.heldBytes > 0, "the server's handshake answer reached the proxy", timeout);
    proxy.releaseAnswers();
    proxy.holdAnswers();
    const connection = await opening;
    const connectedAt = performance.now();
    try {
      expect(refusedAttempts).toBeGreaterThan(1);
      await delay(Math.max(0, connectedAt + 0.2 * timeout - performance.now()));
      expect(connection.signal.reason).toBeUndefined();
      proxy.releaseAnswers();
      await connection.sync();
      expect(connection.alive).toBe(true);
      expect(connection.reconnects).toBe(0);
    } finally {
      proxy.restore();
      await connection.close();
    }
  }, 60_000);
});
