/**
 * A contender key's standing read from etcd in a size that does not grow with the queue: two
 * ranges over the prefix sorted by create revision with a limit (the oldest key; the newest keys
 * up to a revision), as Go's `concurrency.Mutex` finds the key it waits for. etcd still reads the
 * whole range to sort it, but sends back at most the few keys asked for.
 *
 * A prefix's range also holds keys of deeper names (`<name>/x/...`, another recipe's queue) and
 * plain keys (no lease: a guarded write's `<name>/state`); when one of those comes back the answer
 * says nothing about the queue, and the caller lists it (the listing leaves them out).
 * @module
 */
import type { QueueEntry, Standing } from '../contract.js';
import { lastSegment } from '../key-paths.js';
import { type KeySpace, roleOfName } from './keys.js';
import type { KeyValue, RangeRequest, ResponseOp } from './transport/messages.js';

/** The oldest key under `<prefix>/`. */
export function headRange(keys: KeySpace, prefix: string): RangeRequest {
  return { ...keys.range(prefix), sortByCreate: 'ascend', limit: 1 };
}

/** The `count` newest keys under `<prefix>/` created at or before `upTo` (all, without it). */
export function newestRange(keys: KeySpace, prefix: string, count: number, upTo?: bigint): RangeRequest {
  return { ...keys.range(prefix), sortByCreate: 'descend', limit: count, maxCreateRevision: upTo };
}

/** The key-values of a range answer in a transaction. */
export function kvsOf(response: ResponseOp | undefined): readonly KeyValue[] {
  return response?.kind === 'range' ? response.range.kvs : [];
}

/**
 * The standing of a present key from the head range and the range of the keys just ahead of it
 * (newest first); undefined when a key of a deeper name came back (the caller lists instead).
 */
export function standingFrom(keys: KeySpace, prefix: string, head: readonly KeyValue[], ahead: readonly KeyValue[]): Standing | undefined {
  const headEntry = head[0] && entryOf(keys, prefix, head[0]);
  const predecessor = ahead[0] && entryOf(keys, prefix, ahead[0]);
  if (headEntry === null || predecessor === null) return undefined;
  return { present: true, head: headEntry, predecessor };
}

/** The queue entry of a contender key directly under `<prefix>/`; null for a deeper or a plain one. */
function entryOf(keys: KeySpace, prefix: string, kv: KeyValue): QueueEntry | null {
  const key = keys.logical(kv.key);
  const start = `${prefix}/`;
  if (kv.lease === 0n || !key.startsWith(start) || key.includes('/', start.length)) return null;
  return { key, role: roleOfName(lastSegment(key)), revision: kv.createRevision };
}
