/**
 * Late creates. An enqueue whose create got no answer is withdrawn (see the session), but the
 * create itself may still be on its way: sitting in the buffers of a frozen or slow member, it can
 * commit after the withdrawal was confirmed (they travel on different connections, and etcd gives
 * no way to prove that a request in flight will never commit). The key would then sit in the
 * queue for the session's whole life.
 *
 * So a session keeps watching the names it withdrew, for as long as it lives, and deletes
 * whatever appears under them with its lease. A withdrawn name is never used again by the
 * session, so any key there attached to its lease is that late create. The watch is created
 * (from "now") before the withdrawal is sent, so a create that commits after the withdrawal is
 * always seen; after any restart of the watch, a read of the key covers the gap. Withdrawals only
 * happen after failures, so these watches are few; all share the client's one Watch stream.
 * @module
 */
import { raceSignal } from '../abortable.js';
import type { KeySpace } from './keys.js';
import type { EtcdClient } from './transport/client.js';
import type { KeyValue } from './transport/messages.js';
import type { Watch } from './transport/watch-stream.js';

/** What the guard needs from its session. */
export interface LateCreateHost {
  readonly client: EtcdClient;
  readonly keys: KeySpace;
  /** The session's lease: only keys attached to it are this session's late creates. */
  readonly lease: bigint;
  /** Guaranteed removal of a key created at `revision`. */
  remove(key: string, revision: bigint): void;
}

interface Guard {
  readonly watch: Watch;
  /** Resolves when the watch is live (first created). */
  readonly live: Promise<void>;
}

export class LateCreateGuard {
  readonly #host: LateCreateHost;
  readonly #guards = new Map<string, Guard>();
  /** Late creates found and deleted (for tests). */
  found = 0;

  constructor(host: LateCreateHost) {
    this.#host = host;
  }

  /** Whether `key` is a withdrawn name (never to be used again by this session). */
  has(key: string): boolean {
    return this.#guards.has(key);
  }

  /**
   * Starts watching `key` for the rest of the session (once per key), and resolves when the
   * watch is live: a create that commits after that is seen. Rejects with `signal.reason` or
   * when etcd refuses the watch.
   */
  watch(key: string, signal: AbortSignal): Promise<void> {
    let guard = this.#guards.get(key);
    if (!guard) {
      guard = this.#start(key);
      this.#guards.set(key, guard);
    }
    return raceSignal(guard.live, signal);
  }

  #start(key: string): Guard {
    const { client, keys } = this.#host;
    const full = keys.full(key);
    let live!: () => void;
    let refused!: (error: unknown) => void;
    const started = new Promise<void>((resolve, reject) => {
      live = resolve;
      refused = reject;
    });
    started.catch(() => {});
    let restarted = false;
    const watch = client.watches.watch(full, Buffer.alloc(0), {
      created: () => {
        live();
        // Nothing seen while the watch was down: read the key once.
        if (restarted) void this.#check(key, full);
      },
      events: (events) => {
        for (const event of events) if (event.type === 'put') this.#found(key, event.kv);
      },
      restarting: () => {
        restarted = true;
      },
      refused: (error) => {
        // Forget it, so that the next withdrawal attempt watches again (or the session ends).
        this.#guards.delete(key);
        refused(error);
      },
    });
    return { watch, live: started };
  }

  async #check(key: string, full: Buffer): Promise<void> {
    try {
      const res = await this.#host.client.range({ key: full });
      const kv = res.kvs[0];
      if (kv) this.#found(key, kv);
    } catch {
      // The watch restarts again on trouble, and reads again then.
    }
  }

  #found(key: string, kv: KeyValue): void {
    if (kv.lease !== this.#host.lease) return;
    this.found++;
    this.#host.remove(key, kv.createRevision);
  }

  /** Stops every watch (the session ended: its keys vanish with its lease). */
  stop(): void {
    for (const guard of this.#guards.values()) guard.watch.cancel();
    this.#guards.clear();
  }
}
