/**
 * Plain keys on etcd: `<namespace>__values/<name>`, outside every recipe's prefix, so no queue
 * lists them and every one sits under a prefix the adapter's views can watch. A value's revision is
 * the key's `mod_revision`; compare-and-set is one transaction comparing it (`create_revision = 0`
 * for a value that must not exist yet). Writes are sent at most once: an attempt whose outcome is
 * unknown is reported, never retried.
 * @module
 */
import type { KeyState, PlainKeys, StoredValue, Watched } from '../contract.js';
import type { KeySpace } from './keys.js';
import type { EtcdClient } from './transport/client.js';

/** The logical prefix of every plain key. Recipes should not use names under it (docs/etcd.md). */
export const VALUES_PREFIX = '__values';

/** What plain keys need from the backend. */
export interface ValuesHost {
  readonly client: EtcdClient;
  readonly keys: KeySpace;
  call<T>(what: string, fn: () => Promise<T>): Promise<T>;
  watchKey(key: string, signal: AbortSignal): Promise<Watched<KeyState | undefined>>;
}

export class EtcdValues implements PlainKeys {
  /** No other client's barrier to share: a barrier keeps a key of its own. */
  readonly barrierIsTheName = false;

  constructor(private readonly host: ValuesHost) {}

  async read(name: string, signal?: AbortSignal): Promise<StoredValue | undefined> {
    const key = this.host.keys.full(logical(name));
    const res = await this.host.call(`reading value ${name}`, () => this.host.client.range({ key }, { signal }));
    const kv = res.kvs[0];
    return kv && { value: kv.value.toString(), revision: kv.modRevision };
  }

  async watch(name: string, signal: AbortSignal): Promise<Watched<StoredValue | undefined>> {
    // The watch is armed first; the read after it is linearizable, so no write slips between.
    const watched = await this.host.watchKey(logical(name), signal);
    return { current: await this.read(name, signal), changed: watched.changed };
  }

  async write(name: string, expected: StoredValue | undefined, value: string, signal?: AbortSignal): Promise<StoredValue | undefined> {
    const key = this.host.keys.full(logical(name));
    const compare =
      expected === undefined
        ? ({ key, target: 'create', result: 'equal', value: 0n } as const)
        : ({ key, target: 'mod', result: 'equal', value: expected.revision } as const);
    const res = await this.host.call(`writing value ${name}`, () =>
      this.host.client.txn({ compare: [compare], success: [{ put: { key, value } }] }, { signal, atMostOnce: true }),
    );
    return res.succeeded ? { value, revision: res.header.revision } : undefined;
  }

  async delete(name: string, expected?: StoredValue, signal?: AbortSignal): Promise<boolean> {
    const key = this.host.keys.full(logical(name));
    const compare = expected
      ? ({ key, target: 'mod', result: 'equal', value: expected.revision } as const)
      : ({ key, target: 'create', result: 'greater', value: 0n } as const);
    const res = await this.host.call(`deleting value ${name}`, () =>
      this.host.client.txn({ compare: [compare], success: [{ deleteRange: { key } }] }, { signal, atMostOnce: true }),
    );
    return res.succeeded;
  }
}

function logical(name: string): string {
  return `${VALUES_PREFIX}/${name}`;
}
