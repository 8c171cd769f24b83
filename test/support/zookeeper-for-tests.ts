/**
 * One ZooKeeper server for the test file or describe block that calls {@link zooKeeperForTests}:
 * started before its tests, stopped after them, the coordinators its tests opened closed first.
 * @module
 */
import { afterAll, beforeAll } from 'vitest';
import type { Coordinator } from '../../src/index.js';
import { startZooKeeper, type ZooKeeperServers } from './zookeeper-server.js';

export interface ZooKeeperForTests {
  /** The server, once started (a test that runs before it is started has none). */
  servers: ZooKeeperServers | undefined;
  /** The coordinators the tests opened, closed before the server stops. */
  readonly opened: Coordinator[];
}

export function zooKeeperForTests(): ZooKeeperForTests {
  const scope: ZooKeeperForTests = { servers: undefined, opened: [] };
  beforeAll(async () => {
    scope.servers = await startZooKeeper(1);
  }, 120_000);
  afterAll(async () => {
    await Promise.all(scope.opened.map((coord) => coord.close()));
    await scope.servers?.stop();
  });
  return scope;
}
