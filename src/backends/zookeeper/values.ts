/**
 * Plain keys on ZooKeeper: persistent nodes at `<chroot>/<name>`, the layout kazoo's and Curator's
 * barriers use (a barrier is the node's existence). The revision is the node's `mzxid` (the zxid
 * of its last write, store-wide); compare-and-set compares the node's version, which ZooKeeper's
 * `setData` and `delete` check atomically. A create returns no Stat, so a new node is created and
 * written in one multi whose `setData` reports it.
 * @module
 */
import { type ACL, CreateMode, type Stat } from 'node-zookeeper-client';
import type { PlainKeys, StoredValue, Watched } from '../contract.js';
import { BackendError, OutcomeUnknownError } from '../../errors.js';
import { abortable } from '../abortable.js';
import { Code, codeOf, MultiError, type ZkConnection, zxidOf } from './connection.js';
import type { ZooKeeperOptions } from './config.js';
import { toBatonError } from './errors.js';
import { parentOf } from '../key-paths.js';

/** What plain keys need from the backend. */
export interface ValuesHost {
  connection(): Promise<ZkConnection>;
  /** `<chroot>/<name>`. */
  prefixPath(name: string): string;
  ensurePath(conn: ZkConnection, path: string): Promise<void>;
  readonly acl: ACL[];
  readonly options: ZooKeeperOptions;
  /**
   * Runs a read, retried after a connection loss and once on a new session after a lost one
   * (the adapter's one retry rule). Writes never go through it: they are applied at most once.
   */
  read<T>(what: string, run: (conn: ZkConnection) => Promise<T>, signal?: AbortSignal): Promise<T>;
}

export class ZooKeeperValues implements PlainKeys {
  /** A barrier is the node kazoo and Curator use for it, `<chroot>/<name>`. */
  readonly barrierIsTheName = true;

  constructor(private readonly host: ValuesHost) {}

  read(name: string, signal?: AbortSignal): Promise<StoredValue | undefined> {
    const path = this.host.prefixPath(name);
    return this.host.read(`reading ${path}`, async (conn) => {
      try {
        const { data, stat } = await conn.getData(path);
        return stored(data, stat);
      } catch (error) {
        if (codeOf(error) === Code.NO_NODE) return undefined;
        throw error;
      }
    }, signal);
  }

  watch(name: string, signal: AbortSignal): Promise<Watched<StoredValue | undefined>> {
    const path = this.host.prefixPath(name);
    return this.host.read(`watching ${path}`, async (conn) => {
      let fire: () => void = () => {};
      // The node's session ending also ends its watches: report that as a (spurious) change.
      const changed = abortable<void>(signal, (resolve) => {
        fire = () => resolve();
        return conn.track(() => resolve());
      });
      try {
        const { data, stat } = await conn.getData(path, () => fire());
        return { current: stored(data, stat), changed };
      } catch (error) {
        if (codeOf(error) !== Code.NO_NODE) throw error;
      }
      // Absent: watch for its creation (a barrier's path can be set again, so the watch is useful).
      if ((await conn.exists(path, () => fire())) !== null) fire();
      return { current: undefined, changed };
    }, signal);
  }

  async write(name: string, expected: StoredValue | undefined, value: string, _signal?: AbortSignal): Promise<StoredValue | undefined> {
    const path = this.host.prefixPath(name);
    const data = Buffer.from(value, 'utf8');
    const conn = await this.host.connection();
    try {
      if (expected === undefined) {
        const parent = parentOf(path);
        if (parent) await this.host.ensurePath(conn, parent);
        const results = await conn.multi([
          { create: path, data, acl: this.host.acl, mode: CreateMode.PERSISTENT },
          { setData: path, data, version: 0 },
        ]);
        return stored(data, results[1]?.stat as Stat);
      }
      return stored(data, await conn.setData(path, data, expected.stamp ?? -1));
    } catch (error) {
      const code = error instanceof MultiError ? error.code : codeOf(error);
      if (code === Code.NODE_EXISTS || code === Code.BAD_VERSION || code === Code.NO_NODE) return undefined;
      throw this.#failure(error, `writing ${path}`);
    }
  }

  async delete(name: string, expected?: StoredValue, _signal?: AbortSignal): Promise<boolean> {
    const path = this.host.prefixPath(name);
    const conn = await this.host.connection();
    try {
      await conn.remove(path, expected?.stamp ?? -1);
      return true;
    } catch (error) {
      const code = codeOf(error);
      if (code === Code.NO_NODE || code === Code.BAD_VERSION) return false;
      if (code === Code.NOT_EMPTY) {
        throw new BackendError(`cannot delete ${path}: it has children (a lock, election or barrier of the same name uses it)`, { cause: error });
      }
      throw this.#failure(error, `deleting ${path}`);
    }
  }

  /** A write whose connection dropped may or may not have been applied: say so, never retry. */
  #failure(error: unknown, what: string): Error {
    if (codeOf(error) === Code.CONNECTION_LOSS) {
      return new OutcomeUnknownError(`ZooKeeper ${what}: the connection was lost, so whether it was applied is unknown`, { cause: error });
    }
    return toBatonError(error, what, this.host.options);
  }
}

function stored(data: Buffer | undefined, stat: Stat): StoredValue {
  return { value: data ? data.toString('utf8') : '', revision: zxidOf(stat.mzxid as unknown as Buffer), stamp: stat.version };
}
