/**
 * The conformance suite against a real etcd (see test/support/etcd-server.ts for where it comes
 * from). The suite runs unchanged; this file only says how to connect, end a session from the
 * server side (revoke its lease, as `etcdctl lease revoke` does) and delete a key behind Baton's
 * back. Keys live under a namespace, so the namespace handling is exercised too.
 */
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe } from 'vitest';
import { EtcdBackend } from '../../src/backends/etcd/index.js';
import { connect } from '../../src/index.js';
import { backendOf } from '../../src/testing.js';
import { type EtcdServers, localEtcdAvailable, startEtcd } from '../support/etcd-server.js';
import { until } from '../support/until.js';
import { runConformance } from './suite.js';

const namespace = `baton-conformance-${process.pid}/`;
let servers: EtcdServers | undefined;
let raw: Etcd3 | undefined;
beforeAll(async () => {
  servers = await startEtcd();
  raw = servers && new Etcd3({ hosts: servers.endpoints });
}, 120_000);
afterAll(async () => {
  raw?.close();
  await servers?.stop();
});

const available = localEtcdAvailable() || !!process.env.BATON_TEST_ETCD_ENDPOINTS || process.env.CI === 'true';

describe.skipIf(!available)('etcd', () => {
  runConformance({
    name: 'etcd',
    connect: (options) => connect(servers!.url({ namespace, ...(options?.ttl !== undefined ? { ttl: options.ttl } : {}) })),
    async expireSession(coord) {
      const backend = backendOf(coord);
      if (!(backend instanceof EtcdBackend) || backend.leaseId === undefined) throw new Error('no open etcd session to expire');
      await raw!.leaseClient.leaseRevoke({ ID: backend.leaseId });
    },
    async readRaw(name) {
      return (await raw!.get(namespace + name).string()) ?? undefined;
    },
    async deleteKey(key) {
      await raw!.kv.deleteRange({ key: Buffer.from(namespace + key) });
    },
    // A create sent to the frozen member can commit after its withdrawal was confirmed (the two
    // travel on separate connections): the session watches withdrawn names and deletes it.
    cleansUpLateCreates: true,
    freeze() {
      servers!.pauseMember(0);
      return async () => {
        servers!.resumeMember(0);
        // A member stopped for seconds elects itself again before it serves: wait for that.
        let failure: unknown;
        const answers = () => raw!.get('baton-conformance-probe').string().then(() => true, (error: unknown) => ((failure = error), false));
        await until(answers, () => `the thawed member serving (last failure: ${failure})`, 10_000);
      };
    },
  });
});
