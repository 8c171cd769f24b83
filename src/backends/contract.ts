/**
 * The backend contract: the small set of operations every recipe is written against.
 *
 * A backend adapter (memory, etcd, ZooKeeper, or your own) implements {@link Backend} and
 * {@link Session}. The recipes in `src/recipes` never see an adapter, only this contract, and the
 * conformance suite in `test/conformance` tells whether an adapter is right.
 *
 * Vocabulary:
 * - A *prefix* is a recipe's logical name, such as `jobs/nightly` or `jobs/nightly/leases`:
 *   segments joined by `/`, no leading or trailing `/`. The adapter maps it onto its own key space
 *   (etcd: `<namespace><prefix>/`; ZooKeeper: `<chroot>/<prefix>`).
 * - A *key* is the backend's full name of one contender key, as the adapter returned it. Recipes
 *   treat keys as opaque strings and hand them back to the adapter.
 * - A *revision* is the store-wide creation revision of a key (etcd `create_revision`, ZooKeeper
 *   `czxid`, memory: a store-wide counter). Revisions are totally ordered and strictly increase
 *   with creation order, so they serve as fencing tokens.
 *
 * See docs/architecture.md for a walk-through of writing an adapter.
 * @module
 */
import type { HealthBoard } from '../observability/health.js';
import type { BackendUrl } from './config-fields.js';
import type { BackendKind } from './kind.js';

export type { BackendKind } from './kind.js';

/**
 * What a contender key is for. Adapters encode it in the key name where the shared layouts need
 * it (ZooKeeper: `-lock-`, `-latch-`, `-lease-`, `__READ__`, `__WRIT__`) and parse it back when
 * listing. A key written by another client whose role cannot be told is reported as `'lock'`,
 * the exclusive role, so that the read-write lock treats it as a writer.
 */
export type Role = 'lock' | 'latch' | 'lease' | 'read' | 'write';

/** One contender key in a listing. */
export interface QueueEntry {
  /** The key's full name in the backend. */
  readonly key: string;
  /** The role parsed from the key's name. */
  readonly role: Role;
  /**
   * The key's creation revision, where the adapter reports it. Hand it to
   * {@link Backend.waitForBlocker}: on etcd a key name can be deleted and created again (Go
   * clients reuse `<name>/<lease hex>` lock after lock), and only the revision tells the two apart.
   */
  readonly revision?: bigint;
}

/** A key's current value and creation revision. */
export interface KeyState {
  readonly value: string;
  /** Creation revision: the fencing token of a hold on this key. */
  readonly revision: bigint;
  /**
   * Wall-clock creation time in milliseconds since the epoch, where the backend records one
   * (ZooKeeper: the node's `ctime`). Optional: etcd keeps none. Only status reports use it.
   */
  readonly createdAt?: number;
}

/**
 * The watch on a contender's own key, armed by {@link Session.enqueue} before it returns. The
 * waiter and then the hold share this one watch: a waiter whose own key vanished is never granted,
 * and a hold whose key vanished is lost.
 */
export interface OwnKey {
  /**
   * Aborts when the own key is deleted (reason: a `LeaseLostError`) or its session is lost or
   * ended (reason: the session signal's reason, a `SessionLostError` or `ClosedError`). An
   * adapter aborts it no later than it resolves any wait for a change it learned after the
   * deletion, so a wake-up never hides a vanished own key. Deleting the key through
   * {@link Session.remove} aborts it too: the caller ignores that.
   */
  readonly signal: AbortSignal;
  /** Whether {@link signal} has aborted, without making the signal (it is made on first use). */
  readonly lost: boolean;
  /**
   * Calls `listener` with the abort reason when the watch is lost (at once if it already is); the
   * one listener of a hold, cheaper than one on {@link signal}. Dropped by {@link dispose}.
   */
  onLoss(listener: (reason: unknown) => void): void;
  /** Stops watching (after the key was removed, or when the hold ends). Idempotent. */
  dispose(): void;
}

/**
 * Where one contender key stands in its prefix: the head and the key just ahead of it. All that a
 * contender that waits for its predecessor only (mutex, election) needs, and of a size that does
 * not grow with the queue, so a backend can read it without listing the prefix.
 */
export interface Standing {
  /** Whether the key was there. When not, `head` and `predecessor` say nothing. */
  readonly present: boolean;
  /** The first key of the prefix (the holder); the key itself when it is first. */
  readonly head: QueueEntry | undefined;
  /** The key just ahead of it in creation order; undefined when it is first. */
  readonly predecessor: QueueEntry | undefined;
}

/** A waiting contender's own key and its creation revision, as {@link Backend.waitForBlocker} takes it. */
export interface Waiting {
  readonly key: string;
  readonly revision: bigint;
  /** Its own-key watch: see {@link Backend.endsWaitWithOwnKey}. */
  readonly own?: OwnKey;
  /** Set when the waiter needs the listing handed over, not only its standing. */
  readonly listing?: boolean;
}

/** What {@link Session.enqueue} returns: the new key, the prefix as listed right after it, the own-key watch. */
export interface Enqueued {
  readonly key: string;
  readonly revision: bigint;
  /**
   * The prefix's keys in creation order, including the new key. When the caller asked for the
   * standing only and the backend read just that, only the standing's keys and the new key.
   */
  readonly entries: readonly QueueEntry[];
  /** Set when the caller asked for it and the backend read it without listing the whole prefix. */
  readonly standing?: Standing;
  /** The watch on the new key, armed before `enqueue` resolved. */
  readonly own: OwnKey;
}

/** What an enqueue reads besides creating the key: the whole listing, or the standing only. */
export type EnqueueRead = 'listing' | 'standing';

/** A read paired with a one-shot watch armed before the read, so no change can slip between. */
export interface Watched<T> {
  readonly current: T;
  /**
   * Resolves at the first change after `current` was read; rejects if the watch's signal aborts
   * or the backend fails. A change may be reported spuriously; never missed.
   */
  readonly changed: Promise<void>;
}

/** One contender key found by {@link Backend.scan}, anywhere below the scanned prefix. */
export interface ScannedKey extends QueueEntry {
  /** The prefix the key sits directly under, in the recipes' terms (`jobs/nightly`, `pool/leases`). */
  readonly parent: string;
  readonly revision: bigint;
  readonly value: string;
  /** The owning session's id, where the backend tells (etcd lease, ZooKeeper ephemeral owner). */
  readonly session?: string;
  /** Wall-clock creation time in ms since the epoch, where the backend records one. */
  readonly createdAt?: number;
}

/** What {@link Backend.scan} reads: every contender key below a prefix, and what it knows of their sessions. */
export interface ScanResult {
  readonly keys: readonly ScannedKey[];
  /** Remaining time in ms of each session, by id, where the backend reports it (etcd lease TTLs). */
  readonly sessions?: ReadonlyMap<string, number>;
}

/** A plain key's value and the revision of its last write, as {@link PlainKeys.read} returns it. */
export interface StoredValue {
  readonly value: string;
  /**
   * The revision of the key's last write: store-wide, and grows with every write (etcd
   * `mod_revision`, ZooKeeper `mzxid`, memory: the store's counter).
   */
  readonly revision: bigint;
  /**
   * What the backend compares on when that is not the revision (ZooKeeper: the node's version).
   * Recipes hand it back unchanged through `expected`.
   */
  readonly stamp?: number;
}

/**
 * Plain keys: persistent values addressed by a name (segments joined by `/`, mapped like a
 * prefix onto the backend's key space), owned by no session. Versioned values and barriers use
 * them. Every write is a compare-and-set, applied at most once: an attempt whose outcome is
 * unknown rejects with `OutcomeUnknownError`.
 */
export interface PlainKeys {
  /**
   * Whether a barrier is the key `<name>` itself, because other clients' barriers are that key
   * (ZooKeeper: kazoo's and Curator's node `<chroot>/<name>`). It is then also the key a guarded
   * write of that name writes, which no check can tell apart. Where false, a barrier keeps a key
   * of its own under `.baton/` (recipes/plain-keys.ts).
   */
  readonly barrierIsTheName: boolean;
  /** The key's value and revision, or `undefined` if it does not exist. A linearizable read. */
  read(name: string, signal?: AbortSignal): Promise<StoredValue | undefined>;
  /** Reads the key and watches it for its next write or deletion (set before the read). */
  watch(name: string, signal: AbortSignal): Promise<Watched<StoredValue | undefined>>;
  /**
   * Writes `value` only if the key is still as `expected` was read (`undefined`: only if it does
   * not exist). Resolves to the key's new state, or `undefined` when the comparison failed.
   */
  write(name: string, expected: StoredValue | undefined, value: string, signal?: AbortSignal): Promise<StoredValue | undefined>;
  /** Deletes the key, only if still as `expected` when given. Resolves to whether it deleted it. */
  delete(name: string, expected?: StoredValue, signal?: AbortSignal): Promise<boolean>;
}

/** Receives a prefix's membership changes from {@link Backend.followPrefix}, in order. */
export interface PrefixFollower {
  /** The whole membership, in creation order: at the start and after a resynchronisation. */
  reset(entries: readonly QueueEntry[]): void;
  /** A key was created under the prefix: the newest, so it goes behind every other. */
  created(entry: QueueEntry): void;
  /** A key under the prefix was deleted. */
  deleted(key: string): void;
  /**
   * Optional, from a feed that lags the server: what it has told is now older than a write this
   * process has seen confirmed (its own, or another coordinator's of the process on the same
   * cluster), so a position computed from it could count a waiter already gone. Queue positions
   * report nothing until {@link caughtUp}.
   */
  behind?(): void;
  /** The feed shows every write {@link behind} was about (told after the changes that brought it there). */
  caughtUp?(): void;
}

/** A write that commits only while a hold is still valid (see {@link Session.guardedWrite}). */
export type GuardedOp =
  | { readonly put: string; readonly value: string }
  | { readonly delete: string };

/**
 * A backend connection as the recipes see it. One per coordinator. Reads and waits need no
 * session; writing contender keys does.
 *
 * Every call that can wait takes an `AbortSignal` and rejects with `signal.reason` promptly when
 * it aborts, whatever state the connection is in. (Recipes also race each call against their
 * deadline, so a slow adapter cannot make an acquire overrun its timeout; but an adapter that
 * ignores the signal keeps work, sockets and timers alive for nothing.)
 *
 * Errors: adapters reject with `BatonError` subclasses only (raw client errors wrapped in
 * `BackendError`); a write whose outcome cannot be known rejects with `OutcomeUnknownError`.
 */
export interface Backend {
  readonly kind: BackendKind;

  /**
   * Where the adapter reports its connection state (contact, out of contact with the time left
   * before loss, session lost, closed), for `coord.health()`. Optional: without it a coordinator
   * reports only `connected` and `closed`.
   */
  readonly health?: HealthBoard;

  /**
   * The live session, opening one if there is none or the last one was lost. Concurrent callers
   * share one open. A coordinator outlives a lost session: later work gets a new one. A session
   * known to be lost is never returned.
   */
  session(signal: AbortSignal): Promise<Session>;

  /**
   * Optional: the session {@link session} would resolve to right now, when one is open and not
   * known to be lost; undefined otherwise (then call {@link session}). Lets an acquire enter its
   * queue without waiting a turn of the microtask queue for a session it already has.
   */
  liveSession?(): Session | undefined;

  /** Keys directly under `prefix`, in creation order (lowest revision first). */
  list(prefix: string, signal?: AbortSignal): Promise<QueueEntry[]>;

  /**
   * A key's value and creation revision, or `undefined` if it does not exist. `key` is a key as
   * the adapter returned it, or a name written by {@link Session.guardedWrite}.
   */
  get(key: string, signal?: AbortSignal): Promise<KeyState | undefined>;

  /**
   * Waits for a blocker's deletion: resolves once `key` does not exist, at once if it is already
   * gone, else on its deletion. The watch is set before the existence check, so a deletion
   * between the two is never missed. With `revision` (the key's creation revision as listed), a
   * key of that name created again since counts as deleted. Rejects with the signal's reason when
   * `signal` aborts. (A contender's own key is watched by {@link Enqueued.own}, not by this.)
   *
   * With `waiter` (the waiting contender's own key, under the same prefix), an adapter that
   * keeps the prefix's state current may resolve with what the waiter asks for as that state
   * shows it once the blocker is gone: its {@link Standing}, or with `waiter.listing` the keys
   * under the prefix in creation order (a rule that looks further than the key just ahead). It is
   * a state at or after the deletion and after every write of the adapter under the prefix, the
   * waiter's own key included (never older), so every key created before the waiter's is in it.
   * That is all the waiter needs to decide, since keys only join behind it and a contender
   * admitted stays admitted until its key goes; it then reads nothing. Resolving with nothing
   * leaves the reading to the caller.
   */
  waitForBlocker(key: string, revision: bigint | undefined, signal: AbortSignal, waiter?: Waiting): Promise<Standing | readonly QueueEntry[] | void>;

  /**
   * Where `key` (with creation revision `revision`) stands in `prefix`: the head and its
   * predecessor, read in a size that does not grow with the queue (a bounded read, or the
   * adapter's own ordered index). Linearizable, as {@link list} is. Optional: without it a waiter
   * lists the prefix instead.
   */
  standing?(prefix: string, key: string, revision: bigint, signal?: AbortSignal): Promise<Standing>;

  /** Reads `key` and watches it for the next update or deletion. */
  watchKey(key: string, signal: AbortSignal): Promise<Watched<KeyState | undefined>>;

  /** Lists `prefix` and watches it for the next creation or deletion of a key under it. */
  watchPrefix(prefix: string, signal: AbortSignal): Promise<Watched<QueueEntry[]>>;

  /**
   * Follows the membership of `prefix` incrementally: calls `follower.reset` with the current
   * listing, then `created` / `deleted` for every later change directly under it, in order, until
   * `signal` aborts; `reset` again after any resynchronisation (a reconnect). Queue positions use
   * it to cost O(1) per change. Optional: without it they re-list the prefix once per change per
   * coordinator ({@link watchPrefix}). A feed that lags the server tells `follower.behind` when a
   * write this process saw confirmed is not in it yet, and `caughtUp` once it is: positions are
   * reported on a timer (paced), and must not be reported from a state older than such a write.
   */
  followPrefix?(prefix: string, signal: AbortSignal, follower: PrefixFollower): void;

  /**
   * Set when {@link waitForBlocker}, given a `waiter` with its `own` watch, ends the wait by itself
   * (rejecting with the watch's reason, through {@link OwnKey.onLoss}) when the own key is lost,
   * and adds no listener to a signal that never aborts. A waiter with no timeout and no caller
   * signal then waits on one shared never-aborting signal, and its own key's signal (an
   * AbortController, most of a kilobyte of heap) is never made.
   */
  readonly endsWaitWithOwnKey?: true;

  /**
   * Set when {@link session}, {@link Session.enqueue} and the reads made while entering a queue
   * add no listener to a signal that never aborts. An acquire with no timeout and no caller
   * signal then enters on one shared never-aborting signal, and makes none of its own (an
   * AbortController per acquire, most of a kilobyte of heap and a measurable part of an
   * uncontended acquire's own work).
   */
  readonly entersWithoutListening?: true;

  /**
   * Set when the {@link followPrefix} feed tells `follower.behind` whenever it does not yet show a
   * removal that a coordinator of this process has seen confirmed (and `caughtUp` once it does):
   * queue positions then need no word of the process's confirmed removals to hold their reports.
   * Unset (ZooKeeper: each coordinator's session hears of another's release a moment after that
   * one's answer), the recipes tell the views of every removal they see confirmed.
   */
  readonly followTellsBehind?: true;

  /**
   * What {@link followPrefix} follows, when several backends follow the same thing: one position
   * view per queue then serves the waiters of all of them (the memory backends of one process
   * share one store; etcd coordinators sharing a connection, one watched view per name; ZooKeeper
   * coordinators reaching one ensemble and chroot the same way, one feed). Two backends may share a
   * scope only if a prefix names the same keys for both. The feed is started through the backend
   * of the view's first waiter, and must go on while any backend of the scope is open, not only
   * that one. Default: the backend itself.
   */
  readonly followScope?: object;

  /**
   * Reads every contender key at any depth below `prefix` (`''`: the whole key space of this
   * coordinator) and watches for the next creation, deletion or value change among them. For
   * monitoring (the dashboard), not for recipes. Optional: a backend without it has no dashboard.
   */
  scan?(prefix: string, signal: AbortSignal): Promise<Watched<ScanResult>>;

  /** Plain keys, for versioned values and barriers. Optional: a backend without it has neither. */
  readonly values?: PlainKeys;

  /** Ends the current session (its keys vanish) and releases every resource. Idempotent. */
  close(): Promise<void>;
}

/**
 * A liveness-bound identity that owns ephemeral keys: an etcd lease, a ZooKeeper session, a
 * memory TTL timer. Its keys vanish when it ends or expires.
 *
 * Loss is decided from proof: the client-side deadline moves only on answers that prove the
 * quorum (leader, primary) saw the session. Waiters and holders learn a loss at the same moment,
 * through {@link Session.signal} fanned out to every {@link OwnKey}; nothing waits on a session
 * known to be lost.
 */
export interface Session {
  /** The backend's identity for the session (etcd lease id in hex, ZooKeeper session id). */
  readonly id: string;

  /**
   * Aborts when the session is lost or can no longer be trusted: expired, revoked, or out of
   * contact for longer than its TTL. The reason is a `SessionLostError` (a `ClosedError`
   * when the coordinator closed).
   */
  readonly signal: AbortSignal;

  /**
   * Creates a new ephemeral key for this session under `prefix` with the given role and value,
   * then lists the prefix, in one round trip where the backend allows, and arms the own-key watch
   * ({@link Enqueued.own}) before resolving. With `read` `'standing'` the caller needs only the
   * new key's {@link Standing}: a backend that can read it without listing the whole prefix does
   * so and sets {@link Enqueued.standing} (then an enqueue costs the same in a queue of any
   * length); one that cannot lists the prefix as usual. Every call creates its own key, even for a repeated
   * prefix, so two contenders of one session are two keys. Calls made in order from one session
   * create their keys in that order.
   *
   * If it fails (or `signal` aborts) after the key may have been created, it makes sure no key of
   * it remains (finds it and removes it, or ends the session) before or while rejecting.
   */
  enqueue(prefix: string, role: Role, value: string, signal: AbortSignal, read?: EnqueueRead): Promise<Enqueued>;

  /**
   * Guaranteed removal of a contender key: deletes `key` if it still has creation revision
   * `revision`, and resolves only once the key is confirmed gone (absent, or present with another
   * creation revision). An attempt whose outcome is unknown is retried; if the removal cannot be
   * confirmed within the session's TTL the session is ended, so its keys vanish. Resolves at once
   * on a session known to be lost (its keys vanish with it). Never rejects except with
   * `signal.reason`: `signal` bounds how long the caller waits, not the removal, which carries on.
   */
  remove(key: string, revision: bigint, signal?: AbortSignal): Promise<void>;

  /**
   * Sets `key`'s value only if it still has creation revision `revision`. Resolves to whether it
   * did. Applied at most once: rejects with `OutcomeUnknownError` when the outcome is unknown.
   */
  updateIf(key: string, revision: bigint, value: string, signal?: AbortSignal): Promise<boolean>;

  /**
   * Applies `ops` atomically only if `key` still has creation revision `revision`, that is, only
   * while the hold on `key` is valid. `put` and `delete` name keys as names, mapped like a prefix
   * onto the backend's key space (etcd: under the namespace; ZooKeeper: under the chroot), and
   * read back with {@link Backend.get} given that name. Resolves to whether it committed.
   * Applied at most once: an attempt whose outcome is unknown is never retried; the call rejects
   * with `OutcomeUnknownError` instead of guessing.
   */
  guardedWrite(key: string, revision: bigint, ops: readonly GuardedOp[], signal?: AbortSignal): Promise<boolean>;

  /**
   * Ends the session: its keys vanish (etcd lease revoke, ZooKeeper close, memory: at once) and its
   * signal aborts. Idempotent; resolves even when the backend cannot be reached (the session then
   * expires on the server after its TTL).
   */
  end(): Promise<void>;
}

/**
 * Creates a backend from its validated options. One per backend module. The URL schemes that
 * select it are declared beside it in the config registry, which must know them before loading it.
 */
export interface BackendModule<Options> {
  readonly kind: BackendKind;
  /** Parses a URL into options; throws a ConfigError naming what is wrong and what is accepted. */
  fromUrl(url: BackendUrl): Options;
  /** Validates the object form; throws a ConfigError naming the field and the accepted values. */
  fromObject(config: Record<string, unknown>): Options;
  /**
   * Connects. Resolves once the backend is usable; rejects with `signal.reason` when `signal`
   * aborts first (the coordinator's `connect({ signal, timeoutMs })`), leaving nothing open.
   */
  connect(options: Options, signal: AbortSignal): Promise<Backend>;
}
