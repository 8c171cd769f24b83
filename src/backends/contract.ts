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
import type { BackendUrl } from './config-fields.js';

/** Which backend a coordinator talks to. */
export type BackendKind = 'memory' | 'etcd' | 'zookeeper' | 'postgres';

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
   * {@link Backend.waitForDelete}: on etcd a key name can be deleted and created again (Go
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

/** What {@link Session.enqueue} returns: the new key and the prefix as listed right after it. */
export interface Enqueued {
  readonly key: string;
  readonly revision: bigint;
  /** The prefix's keys in creation order, including the new key. */
  readonly entries: readonly QueueEntry[];
}

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

/** A write that commits only while a hold is still valid (see {@link Session.guardedWrite}). */
export type GuardedOp =
  | { readonly put: string; readonly value: string }
  | { readonly delete: string };

/**
 * A backend connection as the recipes see it. One per coordinator. Reads and waits need no
 * session; writing contender keys does.
 */
export interface Backend {
  readonly kind: BackendKind;

  /**
   * The live session, opening one if there is none or the last one was lost. Concurrent callers
   * share one open. A coordinator outlives a lost session: later work gets a new one.
   */
  session(): Promise<Session>;

  /** Keys directly under `prefix`, in creation order (lowest revision first). */
  list(prefix: string): Promise<QueueEntry[]>;

  /** A key's value and creation revision, or `undefined` if it does not exist. */
  get(key: string): Promise<KeyState | undefined>;

  /**
   * Resolves once `key` does not exist: at once if it is already gone, else on its deletion.
   * The watch is set before the existence check, so a deletion between the two is never missed.
   * With `revision` (the key's creation revision as listed), a key of that name created again
   * since counts as deleted. Rejects with the signal's reason when `signal` aborts.
   */
  waitForDelete(key: string, signal: AbortSignal, revision?: bigint): Promise<void>;

  /** Reads `key` and watches it for the next update or deletion. */
  watchKey(key: string, signal: AbortSignal): Promise<Watched<KeyState | undefined>>;

  /** Lists `prefix` and watches it for the next creation or deletion of a key under it. */
  watchPrefix(prefix: string, signal: AbortSignal): Promise<Watched<QueueEntry[]>>;

  /**
   * Reads every contender key at any depth below `prefix` (`''`: the whole key space of this
   * coordinator) and watches for the next creation, deletion or value change among them. For
   * monitoring (the dashboard), not for recipes. Optional: a backend without it has no dashboard.
   */
  scan?(prefix: string, signal: AbortSignal): Promise<Watched<ScanResult>>;

  /** Ends the current session (its keys vanish) and releases every resource. Idempotent. */
  close(): Promise<void>;
}

/**
 * A liveness-bound identity that owns ephemeral keys: an etcd lease, a ZooKeeper session, a
 * memory TTL timer. Its keys vanish when it ends or expires.
 */
export interface Session {
  /** The backend's identity for the session (etcd lease id in hex, ZooKeeper session id). */
  readonly id: string;

  /**
   * Aborts when the session is lost or can no longer be trusted: expired, revoked, or out of
   * contact for longer than its TTL. The reason is a {@link SessionLostError}.
   */
  readonly signal: AbortSignal;

  /**
   * Creates a new ephemeral key for this session under `prefix` with the given role and value,
   * then lists the prefix, in one round trip where the backend allows. Every call creates its
   * own key, even for a repeated prefix, so two contenders of one session are two keys.
   */
  enqueue(prefix: string, role: Role, value: string): Promise<Enqueued>;

  /** Deletes `key` only if it still has creation revision `revision`. Resolves to whether it did. */
  deleteIf(key: string, revision: bigint): Promise<boolean>;

  /** Sets `key`'s value only if it still has creation revision `revision`. */
  updateIf(key: string, revision: bigint, value: string): Promise<boolean>;

  /**
   * Applies `ops` atomically only if `key` still has creation revision `revision`, that is, only
   * while the hold on `key` is valid. `put` and `delete` name keys in the backend's own key space
   * (etcd keys, ZooKeeper paths), outside any recipe's prefix. Resolves to whether it committed.
   */
  guardedWrite(key: string, revision: bigint, ops: readonly GuardedOp[]): Promise<boolean>;
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
  /** Connects. Resolves once the backend is usable. */
  connect(options: Options): Promise<Backend>;
}
