/**
 * One connection per connection identity per process. Coordinators of one process that reach etcd
 * the same way share one {@link EtcdClient} (one HTTP/2 session per member, one Watch stream) and,
 * per namespace, one set of watched prefix views ({@link SharedViews}): a put or a delete under a
 * watched prefix then reaches the process once and is decoded once, however many coordinators
 * wait on it, and a prefix's keys are held once. Each coordinator keeps its own lease (session),
 * its own keys and its own loss signalling; only the transport and the views are shared. The
 * last coordinator to leave closes the connection.
 *
 * The identity is everything that decides what the connection may do on the server: the
 * endpoints (as a set: the order only says which member is asked first), TLS or not, the TLS
 * material (CA, client certificate and key, by content) and the credentials (user name and
 * password: the token the client obtains is the user's). Options that only shape what a
 * coordinator does over the connection are not part of it: the session TTL (a lease of its own
 * per coordinator), the namespace (views are kept per namespace) and the connect timeout.
 * Coordinators configured with `shareConnection: false` get a connection of their own.
 * @module
 */
import { createHash } from 'node:crypto';
import type { EtcdOptions } from './config.js';
import { explain } from './errors.js';
import { KeySpace } from './keys.js';
import { EtcdClient } from './transport/client.js';
import { SharedViews } from './view-registry.js';

/** How long a prefix's watch is kept after its last use. */
const VIEW_LINGER_MS = 30_000;

/** A coordinator's use of a connection: give it back with {@link leave} once, when the coordinator closes. */
export interface ConnectionUse {
  readonly client: EtcdClient;
  /** The views of the coordinator's namespace on this connection. */
  readonly views: SharedViews;
  leave(): void;
}

/** A connection and its users: coordinators, counted per namespace. */
class Connection {
  readonly client: EtcdClient;
  readonly #options: EtcdOptions;
  readonly #byNamespace = new Map<string, { views: SharedViews; users: number }>();
  readonly #closed: () => void;

  constructor(options: EtcdOptions, closed: () => void) {
    this.client = new EtcdClient(options);
    this.#options = options;
    this.#closed = closed;
  }

  use(namespace: string): ConnectionUse {
    let shared = this.#byNamespace.get(namespace);
    if (!shared) {
      const keys = new KeySpace(namespace);
      const { client } = this;
      const options = this.#options;
      const views = new SharedViews(
        {
          keys,
          client,
          range: async (prefix) => {
            try {
              const res = await client.range(keys.range(prefix));
              return { revision: res.header.revision, kvs: res.kvs };
            } catch (error) {
              throw explain(error, `listing ${prefix}/`, options);
            }
          },
          explain: (error, what) => explain(error, what, options),
        },
        VIEW_LINGER_MS,
      );
      this.#byNamespace.set(namespace, (shared = { views, users: 0 }));
    }
    shared.users++;
    const using = shared;
    let left = false;
    return {
      client: this.client,
      views: using.views,
      leave: () => {
        if (left) return;
        left = true;
        if (--using.users > 0) return;
        using.views.closeAll();
        this.#byNamespace.delete(namespace);
        if (this.#byNamespace.size === 0) {
          this.#closed();
          this.client.close();
        }
      },
    };
  }
}

/** The shared connections of this process, by identity. */
const connections = new Map<string, Connection>();

/**
 * A connection for a coordinator with `options`: the process's connection of the same identity,
 * opened if there is none, or one of its own when `options.shareConnection` is false.
 */
export function useConnection(options: EtcdOptions): ConnectionUse {
  if (!options.shareConnection) return new Connection(options, () => {}).use(options.namespace);
  const identity = connectionIdentity(options);
  let connection = connections.get(identity);
  if (!connection) {
    const opened: Connection = new Connection(options, () => {
      if (connections.get(identity) === opened) connections.delete(identity);
    });
    connections.set(identity, (connection = opened));
  }
  return connection.use(options.namespace);
}

/** How many shared connections the process has open (for tests). */
export function sharedConnectionCount(): number {
  return connections.size;
}

/**
 * A digest of what must match for two coordinators to share a connection (see the module's
 * comment). A digest, so that no map key spells out a password or a private key.
 */
export function connectionIdentity(options: EtcdOptions): string {
  const hash = createHash('sha256');
  const part = (label: string, value: string | Buffer | undefined) => {
    // Length-prefixed, so that no two different identities run together into the same bytes.
    const bytes = value === undefined ? undefined : Buffer.from(value);
    hash.update(`${label}:${bytes === undefined ? '-' : bytes.length}:`);
    if (bytes !== undefined) hash.update(bytes);
  };
  part('endpoints', [...new Set(options.endpoints)].sort().join(','));
  part('https', String(options.https));
  part('ca', options.tls?.ca);
  part('cert', options.tls?.cert);
  part('key', options.tls?.key);
  part('user', options.auth?.username);
  part('password', options.auth?.password);
  return hash.digest('hex');
}
