/**
 * The etcd key layout, shared with Go's `client/v3/concurrency` and `etcdctl lock`/`elect`:
 * a contender of a session on `<name>` is the key `<name>/<lease id in lowercase hex>`.
 *
 * Baton adds two things Go does not have, in a form Go's waiters still order correctly (Go only
 * compares create revisions under `<name>/`):
 * - a second concurrent contender of the same session on the same name gets `<leasehex>-<n>`
 *   (n = 2, 3, ...), so two contenders in one process are two keys and exclude each other;
 * - roles that need telling apart carry a tag after the lease hex: `<leasehex>-read`,
 *   `<leasehex>-write` (read-write lock), `<leasehex>-lease` (semaphore permits) and
 *   `<leasehex>-latch` (election campaigners, so that a mutex can tell an election's queue from
 *   its own), again with `-<n>` for further contenders of one session. Go's election and
 *   `etcdctl elect` order and read them like their own: they only compare create revisions.
 * Mutex keys carry no tag, exactly as Go writes them; any key Baton cannot classify (Go's,
 * etcdctl's locks and campaigns) is role `'lock'`.
 * @module
 */
import type { Role } from '../contract.js';

const TAGGED: ReadonlySet<Role> = new Set<Role>(['read', 'write', 'lease', 'latch']);
const NAME = /^[0-9a-f]{1,16}(?:-(read|write|lease|latch))?(?:-([1-9]\d*))?$/;

/** The lease id (decimal, as etcd reports it) in lowercase hex, as Go formats it (`%x`). */
export function leaseHex(id: string | bigint): string {
  return BigInt(id).toString(16);
}

/** The last segment of a contender key for the `n`-th (1-based) concurrent contender of a session. */
export function contenderName(hex: string, role: Role, n: number): string {
  const tag = TAGGED.has(role) ? `-${role}` : '';
  return n <= 1 ? `${hex}${tag}` : `${hex}${tag}-${n}`;
}

/** The role encoded in a contender key's last segment; `'lock'` when it carries none. */
export function roleOfName(name: string): Role {
  const tag = NAME.exec(name)?.[1];
  return (tag as Role | undefined) ?? 'lock';
}

/** Maps logical keys (as recipes and users see them) onto etcd keys under the namespace. */
export class KeySpace {
  readonly #namespace: Buffer;

  constructor(namespace: string) {
    this.#namespace = Buffer.from(namespace);
  }

  /** The etcd key of a logical key, in one buffer (no intermediate one for the key). */
  full(key: string): Buffer {
    const namespace = this.#namespace;
    const out = Buffer.allocUnsafe(namespace.length + Buffer.byteLength(key));
    namespace.copy(out, 0);
    out.write(key, namespace.length);
    return out;
  }

  /** Whether etcd key `key` is in the namespace. */
  contains(key: Buffer): boolean {
    return key.length >= this.#namespace.length && key.subarray(0, this.#namespace.length).equals(this.#namespace);
  }

  /** The logical key of an etcd key (the namespace stripped). */
  logical(key: Buffer): string {
    return key.subarray(this.#namespace.length).toString();
  }

  /** The etcd key range `[start, end)` of every key under `<prefix>/`. */
  range(prefix: string): { key: Buffer; rangeEnd: Buffer } {
    const start = this.full(`${prefix}/`);
    return { key: start, rangeEnd: rangeEnd(start) };
  }
}

/** The first key after every key that starts with `prefix` (etcd's prefix range end). */
export function rangeEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if ((end[i] as number) < 0xff) {
      end[i] = (end[i] as number) + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}
