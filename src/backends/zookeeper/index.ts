/**
 * The ZooKeeper backend: the contract over Apache ZooKeeper through `node-zookeeper-client`,
 * with Curator's node layouts so that Baton, Curator and kazoo share locks and elections.
 *
 * - A Baton session is a ZooKeeper session ({@link ZkConnection}, `connection.ts`); contender
 *   nodes are EPHEMERAL_SEQUENTIAL children of `<chroot>/<prefix>`, named `_c_<uuid>-lock-<seq>`
 *   etc. (`naming.ts`), ordered by their sequence suffix.
 * - The revision of a node is its `czxid`, read in the enqueue round trip (`session.ts`).
 * - Reads, waits and the session's lifecycle are in `backend.ts`; ACLs for digest auth in `acl.ts`.
 * @module
 */
import type { BackendModule } from '../contract.js';
import { ZooKeeperBackend } from './backend.js';
import { optionsFromObject, optionsFromUrl, type ZooKeeperOptions } from './config.js';

export type { ZooKeeperOptions } from './config.js';
export { digestId } from './acl.js';
export { ZooKeeperBackend } from './backend.js';
export { toBatonError } from './errors.js';

/** The `zookeeper://` (and `zk://`) backend module. */
export const zookeeperBackend: BackendModule<ZooKeeperOptions> = {
  kind: 'zookeeper',
  fromUrl: optionsFromUrl,
  fromObject: optionsFromObject,
  async connect(options, signal) {
    const backend = new ZooKeeperBackend(options);
    try {
      await backend.connect(signal);
    } catch (error) {
      await backend.close();
      throw error;
    }
    return backend;
  },
};
