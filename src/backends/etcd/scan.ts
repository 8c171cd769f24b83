/**
 * The dashboard's scan on etcd: one watch over the whole range below a prefix, created first, then
 * a linearizable read, so any change after the read fires the watch. Contender keys are the keys
 * attached to a lease (plain keys and guarded-write data have none); their session is the lease,
 * whose remaining TTL is asked for each distinct lease.
 * @module
 */
import { abortable } from '../abortable.js';
import type { ScannedKey, ScanResult, Watched } from '../contract.js';
import { lastSegment, parentOf } from '../key-paths.js';
import { type KeySpace, leaseHex, rangeEnd, roleOfName } from './keys.js';
import type { EtcdClient } from './transport/client.js';
import { VALUES_PREFIX } from './values.js';

export interface ScanHost {
  readonly client: EtcdClient;
  readonly keys: KeySpace;
  call<T>(what: string, fn: () => Promise<T>): Promise<T>;
}

export async function scanEtcd(host: ScanHost, prefix: string, signal: AbortSignal): Promise<Watched<ScanResult>> {
  const start = host.keys.full(prefix === '' ? '' : `${prefix}/`);
  // An empty start (no namespace, no prefix) means every key: etcd spells that "\0" to "\0".
  const key = start.length === 0 ? Buffer.from([0]) : start;
  const end = start.length === 0 ? Buffer.from([0]) : rangeEnd(start);

  let created!: () => void;
  let failed!: (error: unknown) => void;
  const live = new Promise<void>((resolve, reject) => ((created = resolve), (failed = reject)));
  let fire: () => void = () => {};
  let isLive = false;
  const watch = host.client.watches.watch(key, end, {
    created: () => ((isLive = true), created()),
    events: () => fire(),
    // A restart may have lost events: report a change, the caller scans again.
    restarting: () => (isLive ? fire() : undefined),
    refused: (error) => (isLive ? fire() : failed(error)),
  });
  const changed = abortable<void>(signal, (resolve) => {
    fire = () => resolve();
    return () => watch.cancel();
  });
  void changed.catch(() => {});
  try {
    await abortable<void>(signal, (resolve, reject) => {
      live.then(resolve, reject);
      return () => {};
    });
    const res = await host.call(`scanning ${prefix || 'every name'}`, () => host.client.range({ key, rangeEnd: end }, { signal }));
    const keys: ScannedKey[] = [];
    for (const kv of res.kvs) {
      if (kv.lease === 0n) continue;
      const logical = host.keys.logical(kv.key);
      if (logical.startsWith(`${VALUES_PREFIX}/`)) continue;
      keys.push({
        key: logical,
        parent: parentOf(logical),
        role: roleOfName(lastSegment(logical)),
        revision: kv.createRevision,
        value: kv.value.toString(),
        session: leaseHex(kv.lease),
      });
    }
    const sessions = new Map<string, number>();
    await Promise.all(
      [...new Set(res.kvs.filter((kv) => kv.lease !== 0n).map((kv) => kv.lease))].map(async (lease) => {
        const ttl = await host.client.leaseTimeToLive(lease, { signal }).catch(() => undefined);
        if (ttl && ttl.ttl >= 0n) sessions.set(leaseHex(lease), Number(ttl.ttl) * 1000);
      }),
    );
    return { current: { keys, sessions }, changed };
  } catch (error) {
    watch.cancel();
    throw error;
  }
}
