/**
 * An etcd session: one lease, kept alive by a {@link LeaseKeeper}, owning the contender keys its
 * enqueues create. Every write is one transaction guarded by a compare on a create revision.
 *
 * Enqueues of one session are sent one after the other, each once the previous one is answered:
 * etcd serves concurrent requests in no particular order, so two creates in flight at once could
 * commit in either order, and contenders started in order from one coordinator must queue in
 * that order.
 * @module
 */
import { ClosedError, SessionLostError } from '../../errors.js';
import type { Enqueued, EnqueueRead, GuardedOp, OwnKey, QueueEntry, Role, Session, Standing } from '../contract.js';
import { keysOfStanding } from '../standing.js';
import { GuaranteedRemovals } from '../guaranteed-delete.js';
import { OwnKeyWatches } from '../own-keys.js';
import type { EtcdOptions } from './config.js';
import { explainWrite, isLeaseNotFound } from './errors.js';
import { byRevision, lastSegment, parentOf } from '../key-paths.js';
import { contenderName, type KeySpace, leaseHex, roleOfName } from './keys.js';
import { LateCreateGuard } from './late-creates.js';
import { LeaseKeeper } from './lease-keeper.js';
import type { HealthBoard } from '../../observability/health.js';
import type { EtcdClient } from './transport/client.js';
import type { CallOptions } from './transport/endpoints.js';
import { type Compare, framedTxn, type Header, type KeyValue, type RequestOp, type TxnResponse } from './transport/messages.js';
import type { PrefixView, Snapshot } from './view.js';
import type { ViewRegistry } from './view-registry.js';
import { queueEntryOf } from './follow.js';

/** What a session needs from its adapter. */
export interface SessionHost {
  readonly options: EtcdOptions;
  readonly client: EtcdClient;
  readonly keys: KeySpace;
  readonly views: ViewRegistry;
  /** A call with the adapter's error translation, then `rethrow`'s, if given (it may throw another error). */
  call<T>(what: string, fn: () => Promise<T>, rethrow?: (error: unknown) => void): Promise<T>;
  /** Reads every key under `<prefix>/`. */
  range(prefix: string, signal?: AbortSignal): Promise<Snapshot>;
  /** Where contact, out of contact and loss are reported (`coord.health()`). */
  readonly health: HealthBoard;
}

export class EtcdSession implements Session {
  /** The lease id in lowercase hex, as it appears in contender keys. */
  readonly id: string;
  /** The lease id, as etcd's API takes it. */
  readonly lease: bigint;
  readonly #controller = new AbortController();
  readonly signal: AbortSignal = this.#controller.signal;
  readonly #host: SessionHost;
  readonly #keeper: LeaseKeeper;
  /** Contender names in use under each prefix, reserved before the create is sent. */
  readonly #names = new Map<string, Set<string>>();
  /** Encoded enqueue transactions by mode, key and value (see {@link #enqueueBody}). */
  readonly #enqueueBodies = new Map<string, Buffer>();
  /** Keys this session is deleting right now: their disappearance is expected. */
  readonly #deleting = new Set<string>();
  /** The last enqueue in flight, if any: the next one is sent once it is answered (call order). */
  #lastEnqueue: Promise<void> | undefined;
  readonly #own: OwnKeyWatches;
  readonly #removals: GuaranteedRemovals;
  /** Withdrawn names, watched for the session's life: a create that commits late is deleted. */
  readonly lateCreates: LateCreateGuard;
  #revoking: Promise<void> | undefined;

  private constructor(host: SessionHost, lease: bigint, grantedAt: number) {
    this.#host = host;
    this.lease = lease;
    this.id = leaseHex(lease);
    this.#own = new OwnKeyWatches(this.signal);
    this.#removals = new GuaranteedRemovals({
      signal: this.signal,
      ttlMs: host.options.ttl * 1000,
      attemptRemove: (key, revision, signal) => this.#attemptRemove(key, revision, signal),
      attemptRemoveWithin: (key, revision, ms) => this.#attemptRemoveWithin(key, revision, ms),
      end: () => this.end(),
    });
    this.lateCreates = new LateCreateGuard({
      client: host.client,
      keys: host.keys,
      lease,
      remove: (key, revision) => void this.#removals.remove(key, revision),
    });
    this.#keeper = new LeaseKeeper(
      host.client,
      lease,
      host.options.ttl,
      grantedAt,
      (why) => this.lose(new SessionLostError(`etcd session ${this.id} lost: ${why}`)),
      { contact: () => host.health.contact(this.id), outOfContact: (lossAt) => host.health.outOfContact(lossAt) },
    );
    // Baton counts with the TTL asked for, even where etcd raises a small one to its minimum.
    host.health.sessionTtl(host.options.ttl * 1000, host.options.ttl * 1000);
    host.health.contact(this.id);
  }

  /** The lease id in decimal (for tools and tests). */
  get leaseId(): string {
    return this.lease.toString();
  }

  /** Grants a lease of the configured TTL and starts keeping it alive. */
  static async open(host: SessionHost, signal?: AbortSignal): Promise<EtcdSession> {
    const grantedAt = performance.now();
    const ttl = Math.ceil(host.options.ttl);
    const res = await host.call('granting a session lease', () => host.client.leaseGrant(ttl, { signal }));
    return new EtcdSession(host, res.id, grantedAt);
  }

  /** How many guaranteed removals are still trying (for tests). */
  get pendingRemovals(): number {
    return this.#removals.pending;
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
    this.lateCreates.stop();
    this.#names.clear();
    this.#host.views.forgetOwner((key) => this.owns(key));
    if (!(reason instanceof ClosedError)) this.#host.health.lost(reason);
    if (!(reason instanceof ClosedError)) {
      // Once the client cannot trust the lease, its keys should go as soon as possible.
      this.#revoking = this.#host.client.leaseRevoke(this.lease, { budgetMs: 2000 }).then(
        () => {},
        () => {},
      );
    }
  }

  /** Ends the session: revokes the lease, so its keys vanish (or expire after the TTL if etcd cannot be reached). */
  async end(): Promise<void> {
    this.lose(new SessionLostError(`etcd session ${this.id} was ended`));
    await this.#revoking;
  }

  /** Guaranteed removal of a contender key (see the contract): retried until confirmed gone, else the session ends. */
  remove(key: string, revision: bigint, signal?: AbortSignal): Promise<void> {
    return this.#removals.remove(key, revision, signal);
  }

  /**
   * One removal attempt. With the key's creation revision: delete it if it still has it; any
   * answer confirms it gone. Without (a create whose outcome is unknown): delete it if it is
   * attached to this lease, since the name was reserved for this session's create alone. The
   * create itself may still commit later: the name is watched first, for the rest of the
   * session, and never used again (see late-creates.ts).
   */
  async #attemptRemove(key: string, revision: bigint | undefined, signal: AbortSignal): Promise<void> {
    if (revision !== undefined) {
      await this.#deleteIf(key, revision, { signal });
      return;
    }
    await this.lateCreates.watch(key, signal);
    const full = this.#host.keys.full(key);
    this.#deleting.add(key);
    try {
      await this.#host.call(`withdrawing ${key}`, () =>
        this.#host.client.txn(
          { compare: [{ key: full, target: 'lease', result: 'equal', value: this.lease }], success: [{ deleteRange: { key: full } }] },
          { signal, budgetMs: this.#host.options.ttl * 1000 },
        ),
      );
      this.#forget(key);
    } finally {
      this.#deleting.delete(key);
    }
  }

  /**
   * {@link #attemptRemove} bounded by the transport's own deadlines instead of a signal: each
   * request attempt has one, and retries stop after `ms`. So a release (the delete of a key whose
   * revision is known) makes no AbortController and no timer for its removal attempt. A
   * withdrawal also watches the name, which takes a signal: it makes its own (failures only).
   */
  #attemptRemoveWithin(key: string, revision: bigint | undefined, ms: number): Promise<unknown> {
    // A release: the guarded delete's own promise, with nothing around it.
    if (revision !== undefined) return this.#deleteIf(key, revision, { budgetMs: ms });
    return this.#withdrawWithin(key, ms);
  }

  async #withdrawWithin(key: string, ms: number): Promise<void> {
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(new Error(`withdrawing ${key} took longer than ${ms} ms`)), ms);
    try {
      await this.#attemptRemove(key, undefined, deadline.signal);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * The own-key watch of a key this session just created, on the prefix's view (kept alive by a
   * reference of its own until the watch ends): fired as soon as the view shows the key gone.
   */
  #watchOwn(prefix: string, key: string, revision: bigint): OwnKey {
    return this.#own.arm(key, (onDeleted, onFailed) => {
      const { views } = this.#host;
      let view: PrefixView;
      try {
        view = views.acquire(prefix);
      } catch (error) {
        onFailed(error);
        return () => {};
      }
      let watching = true;
      const end = () => {
        if (!watching) return;
        watching = false;
        stop();
        views.release(view);
      };
      const stop = view.watchGone(
        key,
        revision,
        views,
        () => {
          end();
          onDeleted();
        },
        (error) => {
          end();
          onFailed(error);
        },
      );
      // Gone (or failed) while being armed: `end` ran before `stop` was assigned.
      if (!watching) stop();
      return end;
    });
  }

  /** Ends the session: revokes the lease (its keys vanish at once) and aborts the signal. */
  async close(): Promise<void> {
    if (this.signal.aborted) return;
    this.#keeper.stop();
    this.#controller.abort(new ClosedError('the coordinator was closed'));
    this.lateCreates.stop();
    this.#host.views.forgetOwner((key) => this.owns(key));
    await this.#host.client.leaseRevoke(this.lease, { budgetMs: 2000 }).catch(() => {});
  }

  #checkAlive(): void {
    if (this.signal.aborted) throw this.signal.reason;
  }

  /** A call that turns "lease not found" into this session's loss (one catch, the adapter's). */
  #call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return this.#host.call(what, fn, this.#leaseGone);
  }

  /** Throws the session's loss for an error that says its lease is gone. */
  readonly #leaseGone = (error: unknown): void => {
    if (isLeaseNotFound(error) || isLeaseNotFound((error as Error)?.cause)) {
      this.lose(new SessionLostError(`etcd session ${this.id} lost: etcd reports the lease gone (revoked or expired)`, { cause: error }));
      throw this.signal.reason;
    }
  };

  /**
   * One transaction, like Go's `Mutex.tryAcquire`: create the own key if absent (attached to the
   * lease) and read the whole prefix, or for `read` `'standing'` only count the prefix's keys:
   * alone, the key is first; behind others, the prefix's view tells where it stands once it shows
   * the create. Entering a long queue then costs the same as entering an empty one, on the
   * server too (etcd sorts a whole range to answer one sorted by creation). The first contender of this session on `prefix` gets `<prefix>/<leasehex>`, as Go's
   * clients do; further concurrent ones a suffixed name.
   */
  enqueue(prefix: string, role: Role, value: string, signal: AbortSignal, read: EnqueueRead = 'listing'): Promise<Enqueued> {
    // Sent after the previous enqueue is answered (or failed): call order is queue order. With
    // none in flight (an acquire in a loop), sent at once, not a turn later.
    const previous = this.#lastEnqueue;
    const mine = previous === undefined ? this.#enqueue(prefix, role, value, signal, read) : previous.then(() => this.#enqueue(prefix, role, value, signal, read));
    const settled: Promise<void> = mine.then(
      () => this.#enqueueSettled(settled),
      () => this.#enqueueSettled(settled),
    );
    this.#lastEnqueue = settled;
    return mine;
  }

  #enqueueSettled(settled: Promise<void>): void {
    if (this.#lastEnqueue === settled) this.#lastEnqueue = undefined;
  }

  async #enqueue(prefix: string, role: Role, value: string, signal: AbortSignal, read: EnqueueRead): Promise<Enqueued> {
    this.#checkAlive();
    signal?.throwIfAborted();
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
        let res: TxnResponse;
        try {
          // Retried on another member when an attempt goes unanswered: the compare makes a
          // second commit impossible, and the failure branch shows an earlier attempt's key.
          const body = this.#enqueueBody(prefix, key, value, read);
          res = await this.#call(`creating ${key}`, () => this.#host.client.txnFramed(body, { signal }));
        } catch (error) {
          // The create may have committed with its answer lost: make sure no key of it remains
          // (its name stays reserved until that is confirmed, so no later create can take it).
          void this.#removals.remove(key, undefined);
          throw error;
        }
        if (res.succeeded && read === 'standing') {
          const revision = res.header.revision;
          view.addOwn(key, revision, views);
          views.shareWrite(key, revision, res.header.clusterId);
          const own = this.#watchOwn(prefix, key, revision);
          const range = res.responses[1];
          if (range?.kind === 'range' && range.range.count === 1n) {
            // Nothing else under the prefix: first in line, with nothing read.
            const entry: QueueEntry = { key, role, revision };
            return { key, revision, entries: [entry], standing: { present: true, head: entry, predecessor: undefined }, own };
          }
          return await this.#standingFromView(prefix, key, role, revision, view, own, signal);
        }
        if (res.succeeded) {
          const range = res.responses[1];
          const kvs = range?.kind === 'range' ? range.range.kvs : [];
          const snapshot: Snapshot = { revision: res.header.revision, kvs };
          view.offerSnapshot(snapshot);
          view.addListedOwn(key, views);
          views.shareWrite(key, snapshot.revision, res.header.clusterId);
          return { key, revision: snapshot.revision, entries: entriesOf(keys, prefix, snapshot.kvs), own: this.#watchOwn(prefix, key, snapshot.revision) };
        }
        const found = res.responses[0];
        const existing = found?.kind === 'range' ? found.range.kvs[0] : undefined;
        if (existing && existing.lease === this.lease) {
          // An earlier attempt of this very call committed before a failure hid its answer
          // (names are reserved before sending, so no other contender uses this one).
          return await this.#listAfterCreate(prefix, key, existing.createRevision, view, signal);
        }
        // Someone else's key under our name (it cannot normally happen): keep the name reserved, try the next.
      }
    } finally {
      views.release(view);
    }
  }

  /**
   * The enqueue transaction for `key`, encoded (with its gRPC prefix) once and kept: it is the same bytes every time the
   * session uses the name again (a lock taken in a loop), and encoding it was a good part of an
   * uncontended acquire's own work. Bounded: past {@link MAX_KEPT_BODIES} names it starts over.
   */
  #enqueueBody(prefix: string, key: string, value: string, read: EnqueueRead): Buffer {
    const id = `${read}\0${key}\0${value}`;
    let body = this.#enqueueBodies.get(id);
    if (body) return body;
    const { keys } = this.#host;
    const full = keys.full(key);
    const encoded = framedTxn({
      compare: [{ key: full, target: 'create', result: 'equal', value: 0n }],
      success:
        read === 'standing'
          ? // Only how many keys the prefix holds (etcd counts them in its index, without reading
            // or sorting them): one means the new key is alone, else the view tells where it stands.
            [{ put: { key: full, value, lease: this.lease } }, { range: { ...keys.range(prefix), countOnly: true } }]
          : [{ put: { key: full, value, lease: this.lease } }, { range: keys.range(prefix) }],
      failure: [{ range: { key: full } }],
    });
    // A copy of its own: the encoder's bytes may be a slice of Node's shared 8 KB buffer pool.
    body = Buffer.allocUnsafeSlow(encoded.length);
    encoded.copy(body);
    if (this.#enqueueBodies.size >= MAX_KEPT_BODIES) this.#enqueueBodies.clear();
    this.#enqueueBodies.set(id, body);
    return body;
  }

  /**
   * Where `key`, just created at `revision` behind others, stands, as the prefix's view shows it
   * once it has caught up with the create (the watch event of the create itself, usually there
   * as soon as the answer): no read, where ranges sorted by creation made etcd sort the whole
   * prefix, O(N) per enqueue. The state read is at or after the create, as a read in the create's
   * transaction would be, and is handed to this enqueue alone. Removes the key if that fails.
   */
  async #standingFromView(prefix: string, key: string, role: Role, revision: bigint, view: PrefixView, own: OwnKey, signal: AbortSignal): Promise<Enqueued> {
    try {
      // addOwn raised the view's floor to `revision`: it is current once it shows the create.
      await view.until(() => true, signal, this.#host.views);
    } catch (error) {
      own.dispose();
      void this.remove(key, revision);
      throw error;
    }
    const seen = view.standingOf(key, revision);
    if (!seen.present) return { key, revision, entries: [], standing: { present: false, head: undefined, predecessor: undefined }, own };
    const standing: Standing = { present: true, head: seen.head && queueEntryOf(seen.head), predecessor: seen.predecessor && queueEntryOf(seen.predecessor) };
    return { key, revision, entries: keysOfStanding(standing, key, role, revision), standing, own };
  }

  /** Lists the prefix once this session's `key` (created at `revision`) is in it; removes the key if that fails. */
  async #listAfterCreate(prefix: string, key: string, revision: bigint, view: PrefixView, signal: AbortSignal): Promise<Enqueued> {
    let snapshot: Snapshot;
    try {
      snapshot = await this.#host.range(prefix, signal);
    } catch (error) {
      void this.remove(key, revision);
      throw error;
    }
    view.offerSnapshot(snapshot);
    view.addListedOwn(key, this.#host.views);
    return { key, revision, entries: entriesOf(this.#host.keys, prefix, snapshot.kvs), own: this.#watchOwn(prefix, key, revision) };
  }

  /**
   * Deletes `key` if it still has creation revision `revision`; any answer means it is gone.
   * A promise chain, not an async function: every release goes through here.
   */
  #deleteIf(key: string, revision: bigint, options: CallOptions): Promise<boolean> {
    const full = this.#host.keys.full(key);
    this.#deleting.add(key);
    return this.#host.call(`deleting ${key}`, () => this.#host.client.txn({ compare: [createdAt(full, revision)], success: [{ deleteRange: { key: full } }] }, options)).then(
      (res) => {
        this.#deleting.delete(key);
        if (res.succeeded) this.#wrote(key, res.header);
        this.#forget(key);
        return res.succeeded;
      },
      (error: unknown) => {
        this.#deleting.delete(key);
        throw error;
      },
    );
  }

  async updateIf(key: string, revision: bigint, value: string, signal?: AbortSignal): Promise<boolean> {
    const full = this.#host.keys.full(key);
    const what = `updating ${key}`;
    const res = await this.#call(what, () =>
      this.#host.client.txn(
        // ignoreLease keeps the key attached to the lease it was created with.
        { compare: [createdAt(full, revision)], success: [{ put: { key: full, value, ignoreLease: true } }] },
        atMostOnce(signal),
      ),
    ).catch((error: unknown) => {
      throw explainWrite(error, what, this.#host.options);
    });
    if (res.succeeded) this.#wrote(key, res.header);
    return res.succeeded;
  }

  /** `Compare(CreateRevision(key) = revision)`, then every op, in one transaction. */
  async guardedWrite(key: string, revision: bigint, ops: readonly GuardedOp[], signal?: AbortSignal): Promise<boolean> {
    const { keys } = this.#host;
    const requests: RequestOp[] = ops.map((op) =>
      'put' in op ? { put: { key: keys.full(op.put), value: op.value } } : { deleteRange: { key: keys.full(op.delete) } },
    );
    const what = `guarded write under ${key}`;
    const res = await this.#host
      .call(what, () => this.#host.client.txn({ compare: [createdAt(keys.full(key), revision)], success: requests }, atMostOnce(signal)))
      .catch((error: unknown) => {
        throw explainWrite(error, what, this.#host.options);
      });
    if (res.succeeded) {
      const written = res.header;
      // Only a write that changed something produces an event: a delete of an absent key must
      // not make the views wait for one (it would stall them until a progress notification).
      ops.forEach((op, i) => {
        const response = res.responses[i];
        if ('put' in op) this.#wrote(op.put, written);
        else if (response?.kind !== 'deleteRange' || response.deleted > 0n) this.#wrote(op.delete, written);
      });
    }
    return res.succeeded;
  }

  /**
   * Views covering `key` must show the write (at the revision of its answer's `header`) before
   * they answer waits; those of the process's other coordinators before they report positions.
   */
  #wrote(key: string, header: Header): void {
    const { views } = this.#host;
    for (const view of views.covering(key)) view.raiseFloor(header.revision);
    views.shareWrite(key, header.revision, header.clusterId);
  }

  /**
   * The key is gone (or confirmed not ours): free its name (unless it was withdrawn: a late
   * create may still take it) and stop counting it as own.
   */
  #forget(key: string): void {
    const prefix = parentOf(key);
    if (!this.lateCreates.has(key)) {
      const names = this.#names.get(prefix);
      names?.delete(key.slice(prefix.length + 1));
      if (names?.size === 0) this.#names.delete(prefix);
    }
    const view = this.#host.views.find(prefix);
    if (view && view.forgetOwn(key)) this.#host.views.settle(view);
  }
}

/** How many encoded enqueue transactions a session keeps (a few hundred bytes each). */
const MAX_KEPT_BODIES = 256;

/** A write applied at most once: an attempt with an unknown outcome is not retried. */
function atMostOnce(signal: AbortSignal | undefined): CallOptions {
  return { signal, atMostOnce: true };
}

/** The guard of every write on a hold: the key still exists with the hold's create revision. */
function createdAt(key: Buffer, revision: bigint): Compare {
  return { key, target: 'create', result: 'equal', value: revision };
}

/** The keys directly under `prefix` in a read, in creation order, with their roles. */
export function entriesOf(keys: KeySpace, prefix: string, kvs: readonly KeyValue[]): QueueEntry[] {
  const start = `${prefix}/`;
  const found: { key: string; role: Role; revision: bigint }[] = [];
  for (const kv of kvs) {
    const key = keys.logical(kv.key);
    // Only contenders queue (they always have a lease): a plain key under the name is no member.
    if (kv.lease === 0n || !key.startsWith(start) || key.includes('/', start.length)) continue;
    found.push({ key, role: roleOfName(key.slice(start.length)), revision: kv.createRevision });
  }
  found.sort(byRevision);
  return found;
}
