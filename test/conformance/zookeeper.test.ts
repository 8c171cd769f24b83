/**
 * The conformance suite against a real ZooKeeper server (see test/support/zookeeper-server.ts for
 * where it comes from). The suite runs unchanged; this file only says how to connect, expire a
 * session from the server side and delete a node behind Baton's back.
 */
import zookeeper from 'node-zookeeper-client';
import { afterAll, beforeAll, describe } from 'vitest';
import { connect } from '../../src/index.js';
import { backendOf } from '../../src/testing.js';
import { rawClient } from '../support/zookeeper-inspect.js';
import { expireBackendSession, startZooKeeper, type ZooKeeperServers } from '../support/zookeeper-server.js';
import { runConformance } from './suite.js';

let servers: ZooKeeperServers | undefined;
beforeAll(async () => {
  servers = await startZooKeeper(1);
}, 120_000);
afterAll(async () => {
  await servers?.stop();
});

const available = (await import('../support/zookeeper-server.js')).localZooKeeperAvailable() || !!process.env.BATON_TEST_ZOOKEEPER_ENDPOINTS;
const chroot = `/baton-conformance-${process.pid}`;

/** A bare client on the same servers, for operator-style actions. */
const bareClient = () => rawClient(servers!, { sessionTimeout: 5000 });

describe.skipIf(!available)('ZooKeeper', () => {
  runConformance({
    name: 'zookeeper',
    connect: (options) =>
      connect({
        backend: 'zookeeper',
        endpoints: servers!.endpoints,
        chroot,
        ...(options?.ttl !== undefined ? { sessionTimeout: options.ttl * 1000 } : {}),
      }),
    // A session's ephemeral nodes are deleted by one transaction, but notified one by one.
    seesJointDeletionsTogether: false,
    // kazoo's and Curator's barrier node is the node a guarded write of the name writes.
    barrierIsGuardedKey: true,
    async expireSession(coord) {
      // The server ends the session: a second connection joins it and closes it.
      await expireBackendSession(backendOf(coord));
    },
    async readRaw(name) {
      const client = await bareClient();
      try {
        return await new Promise<string | undefined>((resolve, reject) =>
          client.getData(`${chroot}/${name}`, (error, data) => {
            if (error && (error as { getCode?: () => number }).getCode?.() === zookeeper.Exception.NO_NODE) resolve(undefined);
            else if (error) reject(error);
            else resolve(data?.toString('utf8') ?? '');
          }),
        );
      } finally {
        client.close();
      }
    },
    async deleteKey(key) {
      const client = await bareClient();
      await new Promise<void>((resolve, reject) => client.remove(key, -1, (error) => (error ? reject(error) : resolve())));
      client.close();
    },
    freeze() {
      servers!.pauseServer(0);
      return () => servers!.resumeServer(0);
    },
  });
});
