/**
 * A Redis session: one hash key with a PX TTL, renewed every TTL/3 by a script, owning the
 * contender entries its enqueues create. The server expires the key when renewals stop; the
 * client decides loss on its own clock before that: the server extended the key after the last
 * answered renewal was SENT, so it cannot expire before (that moment) + TTL, and the client
 * declares the loss a guard ahead of it ({@link lossDeadline}), so that a timer a little late
 * still signals it first.
 * @module
 */
import { randomBytes } from 'node:crypto';
import type { HealthBoard } from '../../observability/health.js';
import { ClosedError, OutcomeUnknownError, SessionLostError } from '../../errors.js';
import type { Enqueued, GuardedOp, QueueEntry, Role, Session } from '../contract.js';
import { GuaranteedRemovals } from '../guaranteed-delete.js';
import { lossDeadline } from '../loss-guard.js';
import { OwnKeyWatches } from '../own-keys.js';
import { AttemptError, EpochChangedError, attemptTimeoutMs } from './connection.js';
import type { ChangeListener } from './notifications.js';
import { contenderName, type KeySpace, roleOfName, splitKey } from './keys.js';
import { END, ENQUEUE, GUARDED, OPEN, REMOVE, RENEW, type Script, UPDATE } from './scripts.js';

/** What a session needs from its backend. */
export interface SessionHost {
  readonly keys: KeySpace;
  readonly ttlMs: number;
  /** Where the server is, for messages. */
  readonly where: string;
  /** Where contact, out of contact and loss are reported (`coord.health()`). */
  readonly health: HealthBoard;
  /**
   * Runs a script (the tag and epoch are put before `args`). Attempts that never left the client
   * are retried until `signal` aborts; so are attempts of unknown outcome when `idempotent`.
   */
  run(script: Script, keys: readonly string[], args: readonly string[], signal: AbortSignal, idempotent: boolean): Promise<unknown>;
  /** The highest revision this client has seen: new revisions must exceed it. */
  readonly floor: bigint;
  /** Subscribes `listener` to the queue's changes; resolves, with the removal, once armed. */
  listen(prefix: string, listener: ChangeListener, signal: AbortSignal): Promise<() => void>;
  /** Registers a call after every reconnect (notifications may have been lost); returns its removal. */
  onResync(listener: () => void): () => void;
  /** Whether the entry `name` with `revision` is still in the queue (read from the server). */
  exists(prefix: string, name: string, revision: bigint): Promise<boolean>;
  /** An own entry was found gone without a notification: tell the waits and holds on it. */
  vanished(prefix: string, name: string, revision: bigint): void;
  /** Records a revision the server handed out. */
  seen(revision: bigint, behind?: bigint): void;
  /** Turns an epoch change into the loss it is, adopting the server's new epoch. */
  dataLost(error: EpochChangedError): Promise<SessionLostError>;
}

export class RedisSession implements Session {
  readonly id: string;
  readonly #controller = new AbortController();
  readonly signal: AbortSignal = this.#controller.signal;
  readonly #host: SessionHost;
  readonly #key: string;
  #count = 0;
  /** Queue prefixes this session may have entries in, with how many: ending the session sweeps them. */
  readonly #prefixes = new Map<string, number>();
  #lastProof: number;
  #renewal: NodeJS.Timeout | undefined;
  #deadline: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> | undefined;
  #probe: Promise<void> | undefined;
  /** This session's entries that it has not removed itself, by key. */
  readonly #own = new Map<string, { prefix: string; name: string; revision: bigint }>();
  /** Own-key watches: the session's loss reaches all of them from one listener. */
  readonly #watches = new OwnKeyWatches(this.signal);
  readonly #removals: GuaranteedRemovals;

  private constructor(host: SessionHost, id: string, openedAt: number) {
    this.#host = host;
    this.id = id;
    this.#key = host.keys.session(id);
    this.#lastProof = openedAt;
    this.#armDeadline();
    this.#renewal = setInterval(() => void this.#renew(), host.ttlMs / 3);
    this.#removals = new GuaranteedRemovals({
      signal: this.signal,
      ttlMs: host.ttlMs,
      attemptRemove: (key, revision, signal) => this.#attemptRemove(key, revision, signal),
      end: () => this.#unconfirmedRemoval(),
    });
    host.health.sessionTtl(host.ttlMs, host.ttlMs);
    host.health.contact(id);
  }

  /** Creates the session key with its TTL and starts renewing it. */
  static async open(host: SessionHost, signal: AbortSignal): Promise<RedisSession> {
    const id = randomBytes(8).toString('hex');
    const openedAt = performance.now();
    try {
      await host.run(OPEN, [host.keys.session(id), host.keys.epoch], [String(host.ttlMs)], signal, true);
    } catch (error) {
      if (error instanceof EpochChangedError) {
        // The data was lost since this client last looked; nothing of this session existed yet.
        await host.dataLost(error);
        return RedisSession.open(host, signal);
      }
      throw error;
    }
    return new RedisSession(host, id, openedAt);
  }

  /** performance.now() at which the session is declared lost unless a renewal is answered. */
  get #lossAt(): number {
    return lossDeadline(this.#lastProof, this.#host.ttlMs);
  }

  #armDeadline(): void {
    clearTimeout(this.#deadline);
    this.#deadline = setTimeout(
      () =>
        this.lose(
          new SessionLostError(
            `Redis session ${this.id} lost: no renewal answered by ${this.#host.where} in time, and the session's TTL of ${this.#host.ttlMs / 1000}s is running out: it could expire on the server`,
          ),
        ),
      Math.max(0, this.#lossAt - performance.now()),
    );
  }

  /** A probe in flight, if any. */
  get probing(): Promise<void> | undefined {
    return this.#probe;
  }

  /** Renews now: after one of this session's keys vanished, find out at once whether the session did. */
  probe(): Promise<void> {
    this.#probe ??= this.#renew().finally(() => {
      this.#probe = undefined;
    });
    return this.#probe;
  }

  /**
   * Extends the session key and its queues by another TTL, and reports which of its own entries
   * are gone (deleted behind its back: no notification announced them).
   */
  #renew(): Promise<void> {
    if (this.signal.aborted) return Promise.resolve();
    this.#inFlight ??= this.#renewOnce().finally(() => {
      this.#inFlight = undefined;
    });
    return this.#inFlight;
  }

  async #renewOnce(): Promise<void> {
    const sentAt = performance.now();
    const own = [...this.#own.values()];
    try {
      const reply = (await this.#host.run(
        RENEW,
        [this.#key, this.#host.keys.epoch],
        [String(this.#host.ttlMs), ...own.flatMap((entry) => [entry.prefix, entry.name])],
        AbortSignal.timeout(attemptTimeoutMs(this.#host.ttlMs / 1000)),
        true,
      )) as number | string[];
      if (this.signal.aborted) return;
      if (!Array.isArray(reply)) {
        this.lose(this.#gone());
        return;
      }
      if (sentAt > this.#lastProof) {
        this.#lastProof = sentAt;
        this.#armDeadline();
      }
      this.#host.health.contact(this.id);
      for (const index of reply) {
        const entry = own[Number(index) - 1];
        if (entry && this.#own.get(`${entry.prefix}/${entry.name}`) === entry) {
          this.#own.delete(`${entry.prefix}/${entry.name}`);
          this.#host.vanished(entry.prefix, entry.name, entry.revision);
        }
      }
    } catch (error) {
      if (error instanceof EpochChangedError) this.lose(await this.#host.dataLost(error));
      // Any other failure: the next renewal tries again, and the deadline decides; until then, out of contact.
      else this.outOfContact();
    }
  }

  /** Reports the time left before the deadline: the server is not answering (or the link broke). */
  outOfContact(): void {
    if (!this.signal.aborted) this.#host.health.outOfContact(Date.now() + (this.#lossAt - performance.now()));
  }

  /** Whether `key` is one of this session's live entries (not being removed by it). */
  owns(key: string): boolean {
    return this.#own.has(key);
  }

  #gone(): SessionLostError {
    return new SessionLostError(
      `Redis session ${this.id} lost: ${this.#host.where} no longer has its key (it expired: renewals were late by more than the TTL, or the session was ended)`,
    );
  }

  /** Marks the session lost: signal aborted, renewals stopped, its entries deleted if still there. */
  lose(reason: SessionLostError | ClosedError): void {
    if (this.signal.aborted) return;
    this.#stop();
    this.#controller.abort(reason);
    if (!(reason instanceof ClosedError)) this.#host.health.lost(reason);
    // Once the client cannot trust the session, its entries should go as soon as possible.
    void this.#endOnServer().catch(() => {});
  }

  /** Ends the session: deletes its entries and key (best effort, bounded) and aborts the signal. */
  async end(): Promise<void> {
    if (this.signal.aborted) return;
    this.#stop();
    this.#controller.abort(new ClosedError('the session was ended'));
    await this.#endOnServer().catch(() => {});
  }

  #stop(): void {
    this.#own.clear();
    clearInterval(this.#renewal);
    clearTimeout(this.#deadline);
  }

  /**
   * Deletes the session's entries and key, within one attempt's deadline: when the server cannot
   * be reached, closing does not wait a whole TTL; the key then expires on the server.
   */
  #endOnServer(): Promise<unknown> {
    const bound = AbortSignal.timeout(attemptTimeoutMs(this.#host.ttlMs / 1000));
    return this.#host.run(END, [this.#key, this.#host.keys.epoch], [this.id, ...this.#prefixes.keys()], bound, true);
  }

  #checkAlive(): void {
    if (this.signal.aborted) throw this.signal.reason;
  }

  /** A script of this session: an epoch change or a vanished session key is this session's loss. */
  async #run(script: Script, keys: readonly string[], args: readonly string[], signal: AbortSignal, idempotent: boolean): Promise<unknown> {
    try {
      return await this.#host.run(script, keys, args, signal, idempotent);
    } catch (error) {
      if (error instanceof EpochChangedError) {
        this.lose(await this.#host.dataLost(error));
        throw this.signal.reason;
      }
      throw error;
    }
  }

  /**
   * One script: create this call's entry (its name is unique to the call, so a retry after an
   * unknown outcome finds the entry instead of adding a second) and list the queue. The queue's
   * channel is subscribed first, so the own-key watch returned with the entry misses nothing.
   */
  async enqueue(prefix: string, role: Role, value: string, signal: AbortSignal): Promise<Enqueued> {
    this.#checkAlive();
    const { keys } = this.#host;
    const name = contenderName(this.id, role, ++this.#count);
    const key = `${prefix}/${name}`;
    const bound = AbortSignal.any([signal, this.signal]);
    // Deletions of the new entry reach the own-key watch once it is armed; one before that is kept.
    let onDeleted: (() => void) | undefined;
    let deletedEarly = false;
    const stopListening = await this.#host.listen(
      prefix,
      (change) => {
        if (change.kind !== 'd' || change.name !== name) return;
        if (onDeleted) onDeleted();
        else deletedEarly = true;
      },
      bound,
    );
    this.#prefixes.set(prefix, (this.#prefixes.get(prefix) ?? 0) + 1);
    let reply: string[];
    try {
      reply = (await this.#run(
        ENQUEUE,
        [keys.queue(prefix), keys.values(prefix), this.#key, keys.counter, keys.highWater, keys.epoch],
        [prefix, name, value, String(this.#host.floor), keys.channel(prefix)],
        bound,
        true,
      )) as string[];
    } catch (error) {
      stopListening();
      // The entry may exist: make sure it does not (or end the session), without holding up the rejection.
      void this.#removals.remove(key, undefined);
      throw this.signal.aborted && !signal.aborted ? this.signal.reason : error;
    }
    if (reply[0] === 'GONE') {
      stopListening();
      this.#forget(prefix);
      this.lose(this.#gone());
      throw this.signal.reason;
    }
    const revision = BigInt(reply[1] as string);
    this.#host.seen(revision, BigInt(reply[2] as string));
    this.#own.set(key, { prefix, name, revision });
    const own = this.#watches.arm(key, (deleted) => {
      onDeleted = deleted;
      if (deletedEarly) deleted();
      // After a reconnect notifications may have been lost: read the key again.
      const stopResync = this.#host.onResync(() => {
        this.#host.exists(prefix, name, revision).then(
          (present) => {
            if (!present) deleted();
          },
          () => {},
        );
      });
      return () => {
        stopListening();
        stopResync();
      };
    });
    return { key, revision, entries: entriesOf(prefix, reply.slice(4)), own };
  }

  /**
   * Guaranteed removal: deletes `key` if it still has `revision`, and resolves once it is
   * confirmed gone (absent, or another revision). Attempts of unknown outcome are repeated; a
   * removal that cannot be confirmed within the session's TTL ends the session, so the key goes
   * with it. `signal` bounds how long the caller waits, not the removal, which carries on.
   */
  remove(key: string, revision: bigint, signal?: AbortSignal): Promise<void> {
    return this.#removals.remove(key, revision, signal);
  }

  /** One removal attempt; `revision` undefined: this call's entry whatever its revision (names are never reused). */
  async #attemptRemove(key: string, revision: bigint | undefined, signal: AbortSignal): Promise<void> {
    const { keys } = this.#host;
    const { prefix, name } = splitKey(key);
    // From now on its deletion is expected, not a sign of loss.
    if (revision === undefined || this.#own.get(key)?.revision === revision) this.#own.delete(key);
    try {
      await this.#host.run(
        REMOVE,
        [keys.queue(prefix), keys.values(prefix), this.#key, keys.epoch],
        [prefix, name, revision === undefined ? '*' : String(revision), keys.channel(prefix)],
        signal,
        true,
      );
      this.#forget(prefix);
    } catch (error) {
      // The data is gone, and the key with it: the session is lost, which ends the removal.
      if (error instanceof EpochChangedError) this.lose(await this.#host.dataLost(error));
      throw error;
    }
  }

  /** A removal could not be confirmed within the TTL: the session ends, so its keys go with it. */
  async #unconfirmedRemoval(): Promise<void> {
    if (this.signal.aborted) return;
    this.#stop();
    const reason = new SessionLostError(`Redis session ${this.id} ended: a removal could not be confirmed by ${this.#host.where} within the session's TTL`);
    this.#controller.abort(reason);
    this.#host.health.lost(reason);
    await this.#endOnServer().catch(() => {});
  }

  /** One entry under `prefix` is confirmed gone. */
  #forget(prefix: string): void {
    const count = (this.#prefixes.get(prefix) ?? 0) - 1;
    if (count > 0) this.#prefixes.set(prefix, count);
    else this.#prefixes.delete(prefix);
  }

  /** Sets the value while the hold is valid. At most once: an unknown outcome is reported as such. */
  async updateIf(key: string, revision: bigint, value: string, signal?: AbortSignal): Promise<boolean> {
    const { keys } = this.#host;
    const { prefix, name } = splitKey(key);
    const sessionKey = keys.session(ownerOf(name) ?? this.id);
    try {
      const done = await this.#run(
        UPDATE,
        [keys.queue(prefix), keys.values(prefix), sessionKey, keys.epoch],
        [name, String(revision), value, keys.channel(prefix)],
        signal ?? this.#bound(),
        false,
      );
      return Number(done) === 1;
    } catch (error) {
      throw outcomeUnknown(error, `updating ${key}`);
    }
  }

  /** The operations, applied in one script only while the hold's entry and session are live. */
  async guardedWrite(key: string, revision: bigint, ops: readonly GuardedOp[], signal?: AbortSignal): Promise<boolean> {
    const { keys } = this.#host;
    const { prefix, name } = splitKey(key);
    const sessionKey = keys.session(ownerOf(name) ?? this.id);
    const dataKeys: string[] = [];
    const args = [name, String(revision), String(this.#host.floor)];
    for (const op of ops) {
      const target = 'put' in op ? op.put : op.delete;
      const parts = splitKey(target);
      dataKeys.push(keys.data(target));
      args.push('put' in op ? 'put' : 'delete', 'put' in op ? op.value : '', keys.channel(parts.prefix), parts.name);
    }
    try {
      const done = await this.#run(GUARDED, [keys.queue(prefix), sessionKey, keys.counter, keys.epoch, ...dataKeys], args, signal ?? this.#bound(), false);
      return Number(done) === 1;
    } catch (error) {
      throw outcomeUnknown(error, `guarded write under ${key}`);
    }
  }

  /** A bound for calls made without a caller's signal: the session's TTL. */
  #bound(): AbortSignal {
    return AbortSignal.timeout(this.#host.ttlMs);
  }
}

/** The error of an at-most-once write whose attempt failed: unknown outcome, or the failure itself. */
function outcomeUnknown(error: unknown, what: string): unknown {
  if (error instanceof AttemptError && error.kind === 'unknown') {
    return new OutcomeUnknownError(`${what}: the answer was lost, so whether it was applied is unknown (it is not sent again): ${error.message}`, {
      cause: error,
    });
  }
  return error;
}

/** The session id a contender name starts with. */
function ownerOf(name: string): string | undefined {
  return /^([0-9a-f]+)-/.exec(name)?.[1];
}

/** `name, revision, name, revision, ...` from a script as listing entries (already in order). */
export function entriesOf(prefix: string, flat: readonly string[]): QueueEntry[] {
  const entries: QueueEntry[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const name = flat[i] as string;
    entries.push({ key: `${prefix}/${name}`, role: roleOfName(name), revision: BigInt(flat[i + 1] as string) });
  }
  return entries;
}

