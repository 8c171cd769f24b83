/**
 * The clusters the fault suite runs against, behind one small interface: a 3-member etcd cluster
 * (test/support's), a 3-server ZooKeeper ensemble (./zookeeper-ensemble.ts), and one PostgreSQL
 * server and one Redis server (./single-servers.ts; Baton uses one primary of each). A later
 * backend plugs in by adding one more `start...Cluster` here.
 */
import zookeeper from 'node-zookeeper-client';
import { startEtcd } from '../support/etcd-server.js';
import { serverUnavailable } from '../support/servers.js';
import { localZooKeeperAvailable, ZOOKEEPER_JAR } from '../support/zookeeper-server.js';
import { pollUntil } from './poll.js';
import { startPostgresCluster, startRedisCluster } from './single-servers.js';
import { startZooKeeperEnsemble } from './zookeeper-ensemble.js';

export type BackendName = 'etcd' | 'zookeeper' | 'postgres' | 'redis';
export const BACKENDS: readonly BackendName[] = ['etcd', 'zookeeper', 'postgres', 'redis'];
/** The backends whose cluster has more than one member (follower faults need one). */
export const REPLICATED: readonly BackendName[] = ['etcd', 'zookeeper'];

/** A key found in the backend after a run: contender keys and the guarded counter's entries. */
export interface StoredKey {
  key: string;
  /** Creation revision (etcd create_revision, ZooKeeper czxid, PostgreSQL/Redis revision), as a decimal string. */
  revision: string;
  value: string;
  /** Whether a live session owns it (etcd lease, ZooKeeper ephemeral owner, an unexpired PostgreSQL/Redis session). */
  owned: boolean;
  /** The owning session where the backend names one (ZooKeeper's ephemeralOwner, as 0x + 16 hex digits). */
  owner?: string;
}

export interface Cluster {
  readonly backend: BackendName;
  readonly size: number;
  /** `host:port` of each member's client port. */
  readonly endpoints: string[];
  /** A URL over `endpoints` (all members by default) with a session TTL of `ttlMs`. */
  url(ttlMs: number, endpoints?: string[]): string;
  /** The backend key (etcd key, ZooKeeper path, PostgreSQL/Redis key) that a recipe or guarded-write name maps to. */
  keyOf(name: string): string;
  leader(): Promise<number>;
  kill(index: number): Promise<void>;
  start(index: number): Promise<void>;
  pause(index: number): void;
  resume(index: number): void;
  /** Resolves once every member serves (bounded), rejects otherwise. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** Every key under `prefix` (a backend key as keyOf returns). */
  listKeys(prefix: string): Promise<StoredKey[]>;
  /** ZooKeeper only: cut server 1 off from the other servers' quorum ports (and back). */
  isolateFirst?(isolated: boolean): void;
  stop(): Promise<void>;
}

/**
 * Starts a cluster of `backend`; undefined when its servers are not installed (a visible skip
 * locally; under CI=true test/support's serverUnavailable throws instead).
 */
export async function startCluster(backend: BackendName): Promise<Cluster | undefined> {
  switch (backend) {
    case 'etcd':
      return startEtcdCluster();
    case 'zookeeper':
      return startZooKeeperCluster();
    case 'postgres':
      return startPostgresCluster();
    case 'redis':
      return startRedisCluster();
  }
}

async function startEtcdCluster(): Promise<Cluster | undefined> {
  const servers = await startEtcd({ members: 3, needControl: true });
  if (!servers) return undefined;
  return {
    backend: 'etcd',
    size: 3,
    endpoints: servers.endpoints,
    url: (ttlMs, endpoints = servers.endpoints) => `etcd://${endpoints.join(',')}?ttl=${Math.max(1, Math.round(ttlMs / 1000))}`,
    keyOf: (name) => name,
    leader: () => servers.leader(),
    kill: (index) => servers.stopMember(index, true),
    start: (index) => servers.startMember(index),
    pause: (index) => servers.pauseMember(index),
    resume: (index) => servers.resumeMember(index),
    waitHealthy: (timeoutMs = 30_000) =>
      pollUntil(
        'etcd cluster not healthy',
        async () => (await servers.etcdctl(['--command-timeout=1s', 'endpoint', 'health'], { timeoutMs: 3000 })).code === 0,
        timeoutMs,
      ),
    async listKeys(prefix) {
      const result = await servers.etcdctl(['get', '--prefix', prefix, '-w', 'json'], { timeoutMs: 10_000 });
      if (result.code !== 0) throw new Error(`etcdctl get --prefix ${prefix}: ${result.stderr}`);
      const parsed = JSON.parse(result.stdout) as { kvs?: Array<{ key: string; value?: string; create_revision: number; lease?: number }> };
      const text = (b64: string | undefined) => Buffer.from(b64 ?? '', 'base64').toString('utf8');
      return (parsed.kvs ?? []).map((kv) => ({ key: text(kv.key), revision: String(kv.create_revision), value: text(kv.value), owned: !!kv.lease }));
    },
    stop: () => servers.stop(),
  };
}

const CHROOT = '/baton-faults';

async function startZooKeeperCluster(): Promise<Cluster | undefined> {
  if (!localZooKeeperAvailable()) {
    return serverUnavailable('a 3-server ZooKeeper ensemble', `install java and the Debian "zookeeper" package (${ZOOKEEPER_JAR})`);
  }
  const ensemble = await startZooKeeperEnsemble();
  return {
    backend: 'zookeeper',
    size: 3,
    endpoints: ensemble.endpoints,
    url: (ttlMs, endpoints = ensemble.endpoints) => `zookeeper://${endpoints.join(',')}${CHROOT}?sessionTimeout=${ttlMs}`,
    keyOf: (name) => `${CHROOT}/${name}`,
    leader: () => ensemble.leader(),
    kill: (index) => ensemble.stopServer(index, true),
    start: (index) => ensemble.startServer(index),
    pause: (index) => ensemble.pauseServer(index),
    resume: (index) => ensemble.resumeServer(index),
    waitHealthy: (timeoutMs = 60_000) =>
      pollUntil(
        'ZooKeeper ensemble not serving',
        async () => (await Promise.all(ensemble.endpoints.map((_, i) => ensemble.serving(i)))).every(Boolean),
        timeoutMs,
      ),
    listKeys: (prefix) => listZooKeeper(ensemble.endpoints, prefix),
    isolateFirst: (isolated) => ensemble.isolateFirst(isolated),
    stop: () => ensemble.stop(),
  };
}

/** Every node under `root` (not root itself), depth first, through a short-lived client. */
async function listZooKeeper(endpoints: string[], root: string): Promise<StoredKey[]> {
  const client = zookeeper.createClient(endpoints.join(','), { sessionTimeout: 5000, retries: 2 });
  const connected = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('listing ZooKeeper keys: not connected within 10 s')), 10_000);
    client.once('connected', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  client.connect();
  try {
    await connected;
    const found: StoredKey[] = [];
    const visit = async (path: string): Promise<void> => {
      const children = await new Promise<string[]>((resolve, reject) =>
        client.getChildren(path, (error, names) => (error ? (isNoNode(error) ? resolve([]) : reject(error)) : resolve(names))),
      );
      for (const name of children) {
        const child = `${path}/${name}`;
        const node = await new Promise<{ data: Buffer | undefined; stat: zookeeper.Stat } | undefined>((resolve, reject) =>
          client.getData(child, (error, data, stat) =>
            error ? (isNoNode(error) ? resolve(undefined) : reject(error)) : resolve({ data, stat }),
          ),
        );
        if (!node) continue;
        const owner = node.stat.ephemeralOwner as unknown as Buffer;
        found.push({
          key: child,
          revision: (node.stat.czxid as unknown as Buffer).readBigInt64BE(0).toString(),
          value: node.data?.toString('utf8') ?? '',
          owned: owner.some((byte) => byte !== 0),
          ...(owner.some((byte) => byte !== 0) ? { owner: `0x${owner.toString('hex')}` } : {}),
        });
        await visit(child);
      }
    };
    await visit(root);
    return found;
  } finally {
    client.close();
  }
}

function isNoNode(error: unknown): boolean {
  return error instanceof zookeeper.Exception && error.getCode() === zookeeper.Exception.NO_NODE;
}
