/**
 * A PostgreSQL session: a row in `<schema>.sessions` whose `expires_at` the server sets from its
 * own clock (`now() + ttl`) when the session opens and at each renewal, every TTL/3.
 *
 * The server moved `expires_at` after the last answered renewal was SENT, so the row cannot expire
 * before (that moment) + TTL. The client declares the session lost a guard ahead of that
 * ({@link lossDeadline}), when no newer renewal was answered: before the server could expire it,
 * even with its timer a little late. A renewal answered "no such live session" (expired, or ended
 * by someone) loses it at once.
 * @module
 */
import type { HealthBoard } from '../../observability/health.js';
import { BackendError, BatonError, ClosedError, LeaseLostError, SessionLostError } from '../../errors.js';
import type { Enqueued, GuardedOp, OwnKey, QueueEntry, Role, Session } from '../contract.js';
import { GuaranteedRemovals } from '../guaranteed-delete.js';
import { lastSegment } from '../key-paths.js';
import { lossDeadline } from '../loss-guard.js';
import { OwnKeyWatches } from '../own-keys.js';
import type { Link } from './link.js';
import type { Listener } from './listener.js';
import { SESSION_GONE_SQLSTATE } from './schema.js';
import type { Statements } from './statements.js';

/** What a session needs from its backend. */
export interface SessionHost {
  readonly link: Link;
  readonly listener: Listener;
  readonly sql: Statements;
  /** Session TTL in milliseconds. */
  readonly ttlMs: number;
  /** Where contact, out of contact and loss are reported (`coord.health()`). */
  readonly health: HealthBoard;
}

export class PostgresSession implements Session {
  /** The session row's id (decimal); contender keys are named `<prefix>/<id>-<n>`. */
  readonly id: string;
  readonly #controller = new AbortController();
  readonly signal: AbortSignal = this.#controller.signal;
  readonly #host: SessionHost;
  /** Monotonic time at which the last answered renewal (or the open) was sent. */
  #proofAt: number;
  #deadline: NodeJS.Timeout | undefined;
  #renewal: NodeJS.Timeout | undefined;
  #renewing: Promise<void> | undefined;
  #counter = 0;
  /** Keys this session is deleting itself: their disappearance is expected. */
  readonly #deleting = new Set<string>();
  readonly #own = new OwnKeyWatches(this.signal);
  readonly #removals: GuaranteedRemovals;

  private constructor(host: SessionHost, id: string, openedAt: number) {
    this.#host = host;
    this.id = id;
    this.#proofAt = openedAt;
    this.#removals = new GuaranteedRemovals({
      signal: this.signal,
      ttlMs: host.ttlMs,
      attemptRemove: (key, revision, signal) => this.#attemptRemove(key, revision, signal),
      end: () => this.end(),
    });
    this.#armDeadline();
    this.#renewal = setInterval(() => void this.renew(), Math.max(50, host.ttlMs / 3));
    host.health.sessionTtl(host.ttlMs, host.ttlMs);
    host.health.contact(id);
  }

  /** Inserts the session row; the first deadline counts from the time the insert was sent. */
  static async open(host: SessionHost, signal?: AbortSignal): Promise<PostgresSession> {
    const sentAt = performance.now();
    // Idempotent enough: a row left by an attempt whose answer was lost has no keys and expires.
    const result = await host.link.run('opening a session', host.sql.openSession(host.ttlMs / 1000), 'idempotent', signal);
    return new PostgresSession(host, String(result.rows[0].o_id), sentAt);
  }

  /** Whether `key` was created by this session. */
  owns(key: string): boolean {
    return lastSegment(key).startsWith(`${this.id}-`);
  }

  /** Whether this session is deleting `key` itself right now. */
  isDeleting(key: string): boolean {
    return this.#deleting.has(key);
  }

  /** performance.now() at which the session is declared lost unless a renewal is answered. */
  get #lossAt(): number {
    return lossDeadline(this.#proofAt, this.#host.ttlMs);
  }

  #armDeadline(): void {
    clearTimeout(this.#deadline);
    this.#deadline = setTimeout(() => this.#loseByDeadline(), Math.max(0, this.#lossAt - performance.now()));
  }

  #loseByDeadline(): void {
    this.lose(new SessionLostError(`PostgreSQL session ${this.id} lost: no renewal answered in time, and its TTL of ${this.#host.ttlMs / 1000}s is running out; it could expire on the server`));
  }

  /**
   * Loses the session now if its deadline has passed, even if the deadline's timer has not run
   * yet. After a pause (a frozen process, a long GC) the event loop may deliver a notification
   * before that overdue timer: checked first, a waiter of a session known to be lost is never
   * woken as if it were alive.
   */
  checkDeadline(): void {
    if (!this.signal.aborted && performance.now() >= this.#lossAt) this.#loseByDeadline();
  }

  /** Renews now (also used to check at once whether the session still exists). */
  renew(): Promise<void> {
    if (this.signal.aborted) return Promise.resolve();
    this.#renewing ??= this.#renewOnce().finally(() => {
      this.#renewing = undefined;
    });
    return this.#renewing;
  }

  async #renewOnce(): Promise<void> {
    const sentAt = performance.now();
    let alive: boolean;
    try {
      const result = await this.#host.listener.query(this.#host.sql.renewSession(this.id), Math.max(200, this.#host.ttlMs / 3));
      alive = result.rows[0]?.renewed === true;
    } catch {
      // No answer: the deadline decides; until then, out of contact.
      if (!this.signal.aborted) this.#host.health.outOfContact(Date.now() + (this.#lossAt - performance.now()));
      return;
    }
    if (this.signal.aborted) return;
    if (!alive) {
      this.lose(new SessionLostError(`PostgreSQL session ${this.id} lost: the server reports it expired or ended`));
      return;
    }
    if (sentAt > this.#proofAt) {
      this.#proofAt = sentAt;
      this.#armDeadline();
    }
    this.#host.health.contact(this.id);
  }

  /** Marks the session lost: signal aborted, renewals stopped, the row deleted if still there. */
  lose(reason: SessionLostError | ClosedError): void {
    if (this.signal.aborted) return;
    this.#stop();
    this.#controller.abort(reason);
    if (!(reason instanceof ClosedError)) this.#host.health.lost(reason);
    // Once the client cannot trust the session, its keys should go as soon as possible. One
    // attempt only: if the server cannot be reached the row expires there by itself, and
    // retrying would hold up the statements queued behind this one.
    void this.#host.link.run('ending a lost session', this.#host.sql.endSession(this.id), 'idempotent', undefined, 0).catch(() => {});
  }

  /** Ends the session: deletes its row (its keys go with it) and aborts the signal. */
  async end(): Promise<void> {
    if (this.signal.aborted) return;
    this.#stop();
    this.#controller.abort(new ClosedError('the session was ended'));
    // Bounded by one attempt's deadline: an unreachable server expires the row by itself.
    await this.#host.link.run('ending the session', this.#host.sql.endSession(this.id), 'idempotent', undefined, 0).catch(() => {});
  }

  #stop(): void {
    clearTimeout(this.#deadline);
    clearInterval(this.#renewal);
  }

  #checkAlive(): void {
    if (this.signal.aborted) throw this.signal.reason;
  }

  /** Turns the server's "session gone" answer into this session's loss. */
  #translate(error: unknown): unknown {
    if ((error as { code?: string })?.code === SESSION_GONE_SQLSTATE) {
      this.lose(new SessionLostError(`PostgreSQL session ${this.id} lost: the server reports it expired or ended`, { cause: error }));
      return this.signal.reason;
    }
    if (error instanceof BatonError || this.signal.aborted) return error;
    return new BackendError(`PostgreSQL: ${(error as Error)?.message ?? error}`, { cause: error });
  }

  /**
   * One statement (the `enqueue` function): lock the prefix, drop expired sessions' keys under
   * it, insert the key with the next revision, list the prefix. The own-key watch is armed before
   * the statement is sent. If the caller gives up or the request fails after the key may exist,
   * the key is removed by name (queued behind the enqueue on the same connection, so it runs
   * after it whatever happened), guaranteed: the session is ended if that cannot be confirmed.
   */
  async enqueue(prefix: string, role: Role, value: string, signal: AbortSignal): Promise<Enqueued> {
    this.#checkAlive();
    const key = `${prefix}/${this.id}-${++this.#counter}`;
    const { link, sql } = this.#host;
    const own = this.#watchOwn(key);
    let rows: { o_key: string; o_role: Role; o_revision: string }[];
    try {
      rows = (await link.run(`queueing ${key}`, sql.enqueue(this.id, prefix, key, role, value), 'idempotent', signal)).rows;
    } catch (error) {
      own.dispose();
      void this.#removals.remove(key, undefined);
      throw this.#translate(error);
    }
    this.checkDeadline();
    const entries: QueueEntry[] = rows.map((row) => ({ key: row.o_key, role: row.o_role, revision: BigInt(row.o_revision) }));
    const entry = entries.find((candidate) => candidate.key === key);
    if (!entry) {
      own.dispose();
      throw this.signal.aborted ? this.signal.reason : new LeaseLostError(`${key} vanished right after it was created`);
    }
    return { key, revision: entry.revision!, entries, own };
  }

  /**
   * Watches an own key: it is gone on a delete notification for its name (which this call alone
   * uses), or when a read after a LISTEN reconnect finds it absent. The session's loss reaches
   * every watch through the shared fan-out.
   */
  #watchOwn(key: string): OwnKey {
    return this.#own.arm(key, (onDeleted) =>
      this.#host.listener.onKey(key, (event) => {
        if (event.kind === 'delete') onDeleted();
        else if (event.kind === 'reset') {
          // Deletions may have been missed while the LISTEN connection was down: read again.
          this.#host.link.run(`checking ${key}`, this.#host.sql.get(key), 'idempotent').then(
            (result) => {
              if (result.rowCount === 0) onDeleted();
            },
            () => {},
          );
        }
      }),
    );
  }

  /**
   * Deletes `key` if it still has `revision`, and resolves once it is confirmed gone, retrying
   * through failures; the session is ended if that cannot be confirmed within its TTL.
   */
  remove(key: string, revision: bigint, signal?: AbortSignal): Promise<void> {
    return this.#removals.remove(key, revision, signal);
  }

  /** One removal attempt (one statement, no retry): by name and revision, or by name alone. */
  async #attemptRemove(key: string, revision: bigint | undefined, signal: AbortSignal): Promise<void> {
    this.#deleting.add(key);
    try {
      const statement = revision === undefined ? this.#host.sql.deleteByName(key) : this.#host.sql.deleteIf(key, revision);
      await this.#host.link.run(`deleting ${key}`, statement, 'idempotent', signal, 0);
    } finally {
      this.#deleting.delete(key);
    }
  }

  async updateIf(key: string, revision: bigint, value: string, signal?: AbortSignal): Promise<boolean> {
    try {
      const result = await this.#host.link.run(`updating ${key}`, this.#host.sql.updateIf(key, revision, value), 'once', signal);
      return result.rows[0]?.updated === true;
    } catch (error) {
      throw this.#translate(error);
    }
  }

  async guardedWrite(key: string, revision: bigint, ops: readonly GuardedOp[], signal?: AbortSignal): Promise<boolean> {
    try {
      const result = await this.#host.link.run(`guarded write under ${key}`, this.#host.sql.guardedWrite(key, revision, ops), 'once', signal);
      return result.rows[0]?.written === true;
    } catch (error) {
      throw this.#translate(error);
    }
  }
}
