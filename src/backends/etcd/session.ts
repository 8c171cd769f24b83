/**
 * An etcd session: one lease, kept alive by a {@link LeaseKeeper}, owning the contender keys its
 * enqueues create. Every write is one transaction guarded by a compare on a create revision.
 * @module
 */
import type { Etcd3, ICompare, IKeyValue, IRequestOp, ITxnResponse } from 'etcd3';
import { ClosedError, SessionLostError } from '../../errors.js';
import type { Enqueued, GuardedOp, QueueEntry, Role, Session } from '../contract.js';
import { GuaranteedRemovals } from '../guaranteed-delete.js';
import { OwnKeyWatches } from '../own-keys.js';
import type { EtcdOptions } from './config.js';
import { isLeaseNotFound } from './client.js';
import { byRevision, lastSegment, parentOf } from '../key-paths.js';
import { contenderName, type KeySpace, leaseHex, roleOfName } from './keys.js';
import { LeaseKeeper } from './lease-keeper.js';
import type { Snapshot, ViewRegistry } from './view.js';

/** Waits for `key` (with creation revision `revision`) to be deleted. */
export type WaitForDeletion = (key: string, revision: bigint | undefined, signal: AbortSignal) => Promise<void>;

/** What a session needs from its adapter. */
export interface SessionHost {
  readonly options: EtcdOptions;
  readonly client: Etcd3;
  readonly keys: KeySpace;
  readonly views: ViewRegistry;
  /** A unary call with the adapter's retries and error translation. */
  call<T>(what: string, fn: () => Promise<T>): Promise<T>;
  /** Reads every key under `<prefix>/`. */
  range(prefix: string): Promise<Snapshot>;
}

export class EtcdSession implements Session {
  /** The lease id in lowercase hex, as it appears in contender keys. */
  readonly id: string;
  /** The lease id in decimal, as etcd's API takes it. */
  readonly leaseId: string;
  readonly #controller = new AbortController();
  readonly signal: AbortSignal = this.#controller.signal;
  readonly #host: SessionHost;
  readonly #keeper: LeaseKeeper;
  /** Contender names in use under each prefix, reserved before the create is sent. */
  readonly #names = new Map<string, Set<string>>();
  /** Keys this session is deleting right now: their disappearance is expected. */
  readonly #deleting = new Set<string>();
  readonly #own: OwnKeyWatches;
  readonly #removals: GuaranteedRemovals;
  readonly #waitForDeletion: WaitForDeletion;

  private constructor(host: SessionHost, leaseId: string, grantedAt: number, waitForDeletion: WaitForDeletion) {
    this.#host = host;
    this.leaseId = leaseId;
    this.id = leaseHex(leaseId);
    this.#waitForDeletion = waitForDeletion;
    this.#own = new OwnKeyWatches(this.signal);
    this.#removals = new GuaranteedRemovals({
      signal: this.signal,
      ttlMs: host.options.ttl * 1000,
      // Any answer to the guarded delete confirms the key gone: deleted now, or not there with this revision.
      attemptRemove: async (key, revision) => {
        if (revision !== undefined) await this.#deleteIf(key, revision);
      },
      end: () => this.end(),
    });
    this.#keeper = new LeaseKeeper(host.client, leaseId, host.options.ttl, grantedAt, (why) =>
      this.lose(new SessionLostError(`etcd session ${this.id} lost: ${why}`)),
    );
  }

  /** Grants a lease of the configured TTL and starts keeping it alive. */
  static async open(host: SessionHost, waitForDeletion: WaitForDeletion): Promise<EtcdSession> {
    const grantedAt = performance.now();
    const ttl = Math.ceil(host.options.ttl);
    const res = await host.call('granting a session lease', () => host.client.leaseClient.leaseGrant({ TTL: ttl }));
    return new EtcdSession(host, String(res.ID), grantedAt, waitForDeletion);
  }

  /** Ends the session: revokes the lease, so its keys vanish. */
  async end(): Promise<void> {
    this.lose(new SessionLostError(`etcd session ${this.id} was ended`));
  }

  remove(key: string, revision: bigint, signal?: AbortSignal): Promise<void> {
    return this.#removals.remove(key, revision, signal);
  }

  /** The own-key watch of a key this session just created, on the prefix's view. */
  #watchOwn(key: string, revision: bigint) {
    return this.#own.arm(key, (onDeleted, onFailed) => {
      const stop = new AbortController();
      this.#waitForDeletion(key, revision, stop.signal).then(onDeleted, (error) => {
        if (!stop.signal.aborted) onFailed(error);
      });
      return () => stop.abort();
    });
  }

  /** Whether `key` is one of this session's contender keys that it is deleting itself. */
  isDeleting(key: string): boolean {
    return this.#deleting.has(key);
  }

  /** Whether `key` was created by this session (its last segment starts with the lease hex). */
  owns(key: string): boolean {
    const name = lastSegment(key);
    return name === this.id || name.startsWith(`${this.id}-`);
  }

  /** A check of the lease in flight, if any. */
  get probing(): Promise<void> | undefined {
    return this.#keeper.probing;
  }

  /** Checks with the server at once whether the lease still exists. */
  probe(): void {
    void this.#keeper.probe();
  }

  /** Marks the session lost: signal aborted, keep-alive stopped, the lease revoked if still there. */
  lose(reason: SessionLostError | ClosedError): void {
    if (this.signal.aborted) return;
    this.#keeper.stop();
    this.#controller.abort(reason);
    this.#names.clear();
    this.#host.views.forgetOwner((key) => this.owns(key));
    if (!(reason instanceof ClosedError)) {
      // Once the client cannot trust the lease, its keys should go as soon as possible.
      this.#host.client.leaseClient.leaseRevoke({ ID: this.leaseId }).catch(() => {});
    }
  }

  /** Ends the session: revokes the lease (its keys vanish at once) and aborts the signal. */
  async close(): Promise<void> {
    if (this.signal.aborted) return;
    this.#keeper.stop();
    this.#controller.abort(new ClosedError('the coordinator was closed'));
    this.#host.views.forgetOwner((key) => this.owns(key));
    await this.#host.client.leaseClient.leaseRevoke({ ID: this.leaseId }).catch(() => {});
  }

  #checkAlive(): void {
    if (this.signal.aborted) throw this.signal.reason;
  }

  /** A call that turns "lease not found" into this session's loss. */
  async #call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await this.#host.call(what, fn);
    } catch (error) {
      if (isLeaseNotFound(error)) {
        this.lose(new SessionLostError(`etcd session ${this.id} lost: etcd reports the lease gone (revoked or expired)`, { cause: error }));
        throw this.signal.reason;
      }
      throw error;
    }
  }

  /**
   * One transaction, like Go's `Mutex.tryAcquire`: create the own key if absent (attached to the
   * lease) and read the whole prefix. The first contender of this session on `prefix` gets
   * `<prefix>/<leasehex>`, as Go's clients do; further concurrent ones a suffixed name.
   */
  async enqueue(prefix: string, role: Role, value: string, _signal?: AbortSignal): Promise<Enqueued> {
    this.#checkAlive();
    const { keys, views } = this.#host;
    const view = views.acquire(prefix);
    try {
      let names = this.#names.get(prefix);
      if (!names) this.#names.set(prefix, (names = new Set()));
      for (let n = 1; ; n++) {
        const name = contenderName(this.id, role, n);
        if (names.has(name)) continue;
        names.add(name);
        const key = `${prefix}/${name}`;
        const full = keys.full(key);
        const res: ITxnResponse = await this.#call(`creating ${key}`, () =>
          this.#host.client.kv.txn({
            compare: [{ key: full, target: 'Create', result: 'Equal', create_revision: '0' }],
            success: [{ request_put: { key: full, value: Buffer.from(value), lease: this.leaseId } }, { request_range: keys.range(prefix) }],
            failure: [{ request_range: { key: full } }],
          }),
        );
        if (res.succeeded) {
          const snapshot: Snapshot = { revision: BigInt(res.header.revision), kvs: res.responses[1]?.response_range.kvs ?? [] };
          view.offerSnapshot(snapshot);
          view.own.add(key);
          return { key, revision: snapshot.revision, entries: entriesOf(keys, prefix, snapshot.kvs), own: this.#watchOwn(key, snapshot.revision) };
        }
        const existing = res.responses[0]?.response_range.kvs[0];
        if (existing && String(existing.lease) === this.leaseId) {
          // An earlier attempt of this very call committed before a transient failure hid its
          // answer (names are reserved before sending, so no other contender uses this one).
          const snapshot = await this.#host.range(prefix);
          view.offerSnapshot(snapshot);
          view.own.add(key);
          const revision = BigInt(existing.create_revision);
          return { key, revision, entries: entriesOf(keys, prefix, snapshot.kvs), own: this.#watchOwn(key, revision) };
        }
        // Someone else's key under our name (it cannot normally happen): keep the name reserved, try the next.
      }
    } finally {
      views.release(view);
    }
  }

  async #deleteIf(key: string, revision: bigint): Promise<boolean> {
    const full = this.#host.keys.full(key);
    this.#deleting.add(key);
    try {
      const res = await this.#host.call(`deleting ${key}`, () =>
        this.#host.client.kv.txn({
          compare: [createdAt(full, revision)],
          success: [{ request_delete_range: { key: full } }],
          failure: [],
        }),
      );
      if (res.succeeded) this.#wrote(key, BigInt(res.header.revision));
      this.#forget(key);
      return res.succeeded;
    } finally {
      this.#deleting.delete(key);
    }
  }

  async updateIf(key: string, revision: bigint, value: string, _signal?: AbortSignal): Promise<boolean> {
    const full = this.#host.keys.full(key);
    const res = await this.#call(`updating ${key}`, () =>
      this.#host.client.kv.txn({
        compare: [createdAt(full, revision)],
        // ignore_lease keeps the key attached to the lease it was created with.
        success: [{ request_put: { key: full, value: Buffer.from(value), ignore_lease: true } }],
        failure: [],
      }),
    );
    if (res.succeeded) this.#wrote(key, BigInt(res.header.revision));
    return res.succeeded;
  }

  /** `Compare(CreateRevision(key) = revision)`, then every op, in one transaction. */
  async guardedWrite(key: string, revision: bigint, ops: readonly GuardedOp[], _signal?: AbortSignal): Promise<boolean> {
    const { keys } = this.#host;
    const requests: IRequestOp[] = ops.map((op) =>
      'put' in op
        ? { request_put: { key: keys.full(op.put), value: Buffer.from(op.value) } }
        : { request_delete_range: { key: keys.full(op.delete) } },
    );
    const res = await this.#host.call(`guarded write under ${key}`, () =>
      this.#host.client.kv.txn({
        compare: [createdAt(keys.full(key), revision)],
        success: requests,
        failure: [],
      }),
    );
    if (res.succeeded) {
      const written = BigInt(res.header.revision);
      for (const op of ops) this.#wrote('put' in op ? op.put : op.delete, written);
    }
    return res.succeeded;
  }

  /** Views covering `key` must show the write at `revision` before they answer reads. */
  #wrote(key: string, revision: bigint): void {
    for (const view of this.#host.views.covering(key)) view.raiseFloor(revision);
  }

  /** The key is gone (or confirmed not ours): free its name and stop counting it as own. */
  #forget(key: string): void {
    const prefix = parentOf(key);
    const names = this.#names.get(prefix);
    names?.delete(key.slice(prefix.length + 1));
    if (names?.size === 0) this.#names.delete(prefix);
    const view = this.#host.views.find(prefix);
    if (view && view.own.delete(key)) this.#host.views.settle(view);
  }
}

/** The guard of every write on a hold: the key still exists with the hold's create revision. */
function createdAt(key: Buffer, revision: bigint): ICompare {
  return { key, target: 'Create', result: 'Equal', create_revision: String(revision) };
}

/** The keys directly under `prefix` in a read, in creation order, with their roles. */
export function entriesOf(keys: KeySpace, prefix: string, kvs: readonly IKeyValue[]): QueueEntry[] {
  const start = `${prefix}/`;
  const found: { key: string; role: Role; revision: bigint }[] = [];
  for (const kv of kvs) {
    const key = keys.logical(kv.key);
    if (!key.startsWith(start) || key.includes('/', start.length)) continue;
    found.push({ key, role: roleOfName(key.slice(start.length)), revision: BigInt(kv.create_revision) });
  }
  found.sort(byRevision);
  return found;
}
