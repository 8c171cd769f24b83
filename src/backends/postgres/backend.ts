/**
 * The PostgreSQL adapter: the backend contract over a command connection ({@link Link}), a LISTEN
 * connection ({@link Listener}) and Baton's schema (see schema.ts).
 *
 * Waits are driven by events: a trigger NOTIFYs every key change, and a wait re-reads its key
 * after every reconnect of the LISTEN connection. Expiry is not an event (a session's row simply
 * passes its `expires_at`), so a wait on a key also sets a timer at the key's session expiry, as
 * the server's clock reported it; when it fires the wait reads again, and that read deletes the
 * expired key (which notifies everyone else). A periodic sweep deletes expired sessions too.
 * @module
 */
import { HealthBoard } from '../../observability/health.js';
import { ClosedError, ConfigError } from '../../errors.js';
import { abortable, raceSignal } from '../abortable.js';
import type { Backend, KeyState, PlainKeys, QueueEntry, Role, ScanResult, Session, Watched } from '../contract.js';
import { type PostgresOptions } from './config.js';
import { explain } from './errors.js';
import { type FencedOptions, type FencedTransactionFn, type HoldRef, FencedTransactions } from './fenced.js';
import { Link } from './link.js';
import { type KeyEvent, Listener } from './listener.js';
import { checkSchemaForReading, isMissingSchema, migrate } from './migrate.js';
import { channelOf } from './schema.js';
import { PostgresSession } from './session.js';
import { type Statements, statementsFor } from './statements.js';
import type { Statement } from './link.js';
import type pg from 'pg';
import { PostgresValues } from './values.js';
import { scanPostgres } from './scan.js';

/** A key's state with the time its session has left (server clock), when it has a session. */
interface KeyRead extends KeyState {
  readonly expiresInMs: number | undefined;
}

/** A small margin after a reported expiry, so that the read it triggers finds the row expired. */
const EXPIRY_MARGIN_MS = 5;

export class PostgresBackend implements Backend {
  readonly kind = 'postgres' as const;
  readonly options: PostgresOptions;
  readonly link: Link;
  readonly listener: Listener;
  readonly sql: Statements;
  readonly ttlMs: number;
  readonly #closer = new AbortController();
  readonly #fenced: FencedTransactions;
  /** Plain keys (versioned values, barriers): rows without a session. */
  readonly values: PlainKeys = new PostgresValues(this);
  /** Contact, out of contact (with the time left), lost, as the session's renewals show them. */
  readonly health = new HealthBoard('postgres');
  #current: PostgresSession | undefined;
  #opening: Promise<PostgresSession> | undefined;
  #sweeper: NodeJS.Timeout | undefined;

  private constructor(options: PostgresOptions) {
    this.options = options;
    this.ttlMs = options.ttl * 1000;
    const attemptMs = Math.min(5000, Math.max(1000, this.ttlMs / 3));
    this.link = new Link(options, { attemptMs, requestMs: Math.max(this.ttlMs, 2000) }, 'baton');
    this.listener = new Listener(options, channelOf(options.schema), (event) => this.#sawEvent(event));
    this.sql = statementsFor(options.schema);
    this.#fenced = new FencedTransactions(options);
  }

  /**
   * Connects: checks that the server answers and accepts the credentials, creates or upgrades the
   * schema, starts listening and opens the first session (so the first acquire is one round trip).
   * Read only (`readOnly`): only checks the schema's version (an absent schema is no error: reads
   * find nothing) and starts listening; no session, no sweep.
   */
  static async connect(options: PostgresOptions, signal?: AbortSignal): Promise<PostgresBackend> {
    const backend = new PostgresBackend(options);
    try {
      const client = await raceSignal(
        backend.link.connection().catch((error: unknown) => {
          throw explain(error, 'connecting', options);
        }),
        signal,
      );
      await raceSignal(options.readOnly ? checkSchemaForReading(client, options) : migrate(client, options), signal);
      // LISTEN writes nothing, and a channel needs no schema: an observer of a schema made later still hears it.
      await raceSignal(
        backend.listener.start().catch((error: unknown) => {
          throw explain(error, 'opening the LISTEN connection', options);
        }),
        signal,
      );
      if (options.readOnly) return backend;
      await backend.session(signal);
      backend.#sweeper = setInterval(() => void backend.sweep().catch(() => {}), Math.max(1000, backend.ttlMs));
      backend.#sweeper.unref();
    } catch (error) {
      await backend.close();
      throw error;
    }
    return backend;
  }

  /** The current session's id, if one is open (for tests and tools). */
  get sessionId(): string | undefined {
    return this.#current && !this.#current.signal.aborted ? this.#current.id : undefined;
  }

  /** Deletes every expired session (and so its keys). Also run periodically. Resolves to how many. */
  async sweep(): Promise<number> {
    const result = await this.link.run('sweeping expired sessions', this.sql.sweep(), 'idempotent', this.#closer.signal, 0);
    return Number(result.rows[0]?.swept ?? 0);
  }

  /**
   * Every notification passes here before the waits: the session's deadline is checked, and an own
   * key that vanished without this coordinator deleting it makes it ask now whether the session lives.
   */
  #sawEvent(event: KeyEvent): void {
    const session = this.#current;
    // Before any wait hears of this event: a session whose deadline passed is lost first.
    session?.checkDeadline();
    if (event.kind !== 'delete' || !session || session.signal.aborted) return;
    if (session.owns(event.key) && !session.isDeleting(event.key)) void session.renew();
  }

  session(signal?: AbortSignal): Promise<Session> {
    if (this.#closer.signal.aborted) return Promise.reject(new ClosedError('the coordinator was closed'));
    if (this.options.readOnly) {
      return Promise.reject(
        new ConfigError(`this PostgreSQL coordinator is read only (readonly=true): it opens no session, so it can read queues but not join one; connect without readonly to acquire`),
      );
    }
    const current = this.#current;
    if (current && !current.signal.aborted) return Promise.resolve(current);
    this.#opening ??= PostgresSession.open(this, signal)
      .then((session) => {
        if (this.#closer.signal.aborted) {
          void session.end();
          throw new ClosedError('the coordinator was closed');
        }
        this.#current = session;
        return session;
      })
      .finally(() => {
        this.#opening = undefined;
      });
    return this.#opening;
  }

  async #list(prefix: string, signal?: AbortSignal): Promise<(QueueEntry & { expiresInMs: number | undefined })[]> {
    this.#checkOpen();
    const result = await this.#read(`listing ${prefix}/`, this.options.readOnly ? this.sql.listReadOnly(prefix) : this.sql.list(prefix), signal);
    // A row without a session is a plain key under the prefix (a guarded write's `NAME/state`), no member.
    return result.rows
      .filter((row: { o_expires_in_ms: number | null }) => row.o_expires_in_ms !== null)
      .map((row: { o_key: string; o_role: Role; o_revision: string; o_expires_in_ms: number }) => ({
        key: row.o_key,
        role: row.o_role,
        revision: BigInt(row.o_revision),
        expiresInMs: row.o_expires_in_ms,
      }));
  }

  /** A read; on a read-only coordinator a schema that does not exist (yet) reads as empty. */
  async #read(what: string, statement: Statement, signal?: AbortSignal): Promise<Pick<pg.QueryResult, 'rows'>> {
    try {
      return await this.link.run(what, statement, 'idempotent', signal);
    } catch (error) {
      if (this.options.readOnly && isMissingSchema(error)) return { rows: [] };
      throw error;
    }
  }

  async list(prefix: string, signal?: AbortSignal): Promise<QueueEntry[]> {
    return (await this.#list(prefix, signal)).map(({ key, role, revision }) => ({ key, role, revision }));
  }

  async #get(key: string, signal?: AbortSignal): Promise<KeyRead | undefined> {
    this.#checkOpen();
    const result = await this.#read(`reading ${key}`, this.options.readOnly ? this.sql.getReadOnly(key) : this.sql.get(key), signal);
    const row = result.rows[0] as { o_value: string; o_revision: string; o_created_at: Date; o_expires_in_ms: number | null } | undefined;
    return row && { value: row.o_value, revision: BigInt(row.o_revision), createdAt: row.o_created_at.getTime(), expiresInMs: row.o_expires_in_ms ?? undefined };
  }

  async get(key: string, signal?: AbortSignal): Promise<KeyState | undefined> {
    const read = await this.#get(key, signal);
    return read && { value: read.value, revision: read.revision, createdAt: read.createdAt };
  }

  /**
   * Resolves once `key` (with creation revision `revision`, when given) is gone: a delete
   * notification for it, or a read that finds it absent or re-created. Reads happen once LISTEN is
   * in force, after every reconnect, and at the key's session expiry.
   */
  waitForBlocker(key: string, revision: bigint | undefined, signal: AbortSignal): Promise<void> {
    const linked = this.#signal(signal);
    return abortable<void>(linked, (resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      // A plain key (no session) is never a blocker: no contender waits for data under a name.
      const gone = (state: KeyRead | undefined) =>
        state === undefined || state.expiresInMs === undefined || (revision !== undefined && state.revision !== revision);
      const check = () => {
        clearTimeout(timer);
        this.listener
          .ready(linked)
          .then(() => this.#get(key, linked))
          .then((state) => {
            if (gone(state)) resolve();
            else if (state!.expiresInMs !== undefined) timer = setTimeout(check, Math.max(0, state!.expiresInMs) + EXPIRY_MARGIN_MS);
          })
          .catch(reject);
      };
      const unsubscribe = this.listener.onKey(key, (event) => {
        if (event.kind === 'reset') check();
        else if (event.kind === 'delete' ? revision === undefined || event.revision === revision : revision !== undefined && event.revision !== revision) resolve();
      });
      check();
      return () => {
        unsubscribe();
        clearTimeout(timer);
      };
    });
  }

  /** Every contender key below `prefix`, watched as a whole (the dashboard). */
  scan(prefix: string, signal: AbortSignal): Promise<Watched<ScanResult>> {
    this.#checkOpen();
    return scanPostgres(this, prefix, this.#signal(signal));
  }

  async watchKey(key: string, signal: AbortSignal): Promise<Watched<KeyState | undefined>> {
    const linked = this.#signal(signal);
    let unsubscribe = () => {};
    let timer: NodeJS.Timeout | undefined;
    let fire = () => {};
    const changed = abortable<void>(linked, (resolve) => {
      fire = resolve;
      return () => {
        unsubscribe();
        clearTimeout(timer);
      };
    });
    unsubscribe = this.listener.onKey(key, () => fire());
    try {
      await this.listener.ready(linked);
      const read = await this.#get(key, linked);
      // The key's session expiring is a change too (the key is deleted by the read that follows).
      if (read?.expiresInMs !== undefined) timer = setTimeout(() => fire(), Math.max(0, read.expiresInMs) + EXPIRY_MARGIN_MS);
      return { current: read && { value: read.value, revision: read.revision, createdAt: read.createdAt }, changed };
    } catch (error) {
      unsubscribe();
      clearTimeout(timer);
      throw error;
    }
  }

  async watchPrefix(prefix: string, signal: AbortSignal): Promise<Watched<QueueEntry[]>> {
    const linked = this.#signal(signal);
    let unsubscribe = () => {};
    let timer: NodeJS.Timeout | undefined;
    let fire = () => {};
    const changed = abortable<void>(linked, (resolve) => {
      fire = resolve;
      return () => {
        unsubscribe();
        clearTimeout(timer);
      };
    });
    unsubscribe = this.listener.onPrefix(prefix, (event) => {
      if (event.kind === 'reset' || event.kind !== 'update') fire();
    });
    try {
      await this.listener.ready(linked);
      const entries = await this.#list(prefix, linked);
      const expiries = entries.flatMap((entry) => (entry.expiresInMs === undefined ? [] : [entry.expiresInMs]));
      if (expiries.length > 0) timer = setTimeout(() => fire(), Math.max(0, Math.min(...expiries)) + EXPIRY_MARGIN_MS);
      return { current: entries.map(({ key, role, revision }) => ({ key, role, revision })), changed };
    } catch (error) {
      unsubscribe();
      clearTimeout(timer);
      throw error;
    }
  }

  /**
   * Runs `fn` in a transaction that first locks the hold's key row (FOR SHARE) and checks that its
   * session is live, and checks again right before COMMIT: the transaction commits only while the
   * hold is valid. Rejects with a LeaseLostError when it is not.
   */
  fencedTransaction<T>(hold: HoldRef, fn: FencedTransactionFn<T>, options: FencedOptions = {}): Promise<T> {
    this.#checkOpen();
    return this.#fenced.run(hold, fn, options);
  }

  /** The caller's signal, also aborted when the coordinator closes. */
  #signal(signal: AbortSignal | undefined): AbortSignal {
    return signal ? AbortSignal.any([signal, this.#closer.signal]) : this.#closer.signal;
  }

  #checkOpen(): void {
    if (this.#closer.signal.aborted) throw new ClosedError('the coordinator was closed');
  }

  async close(): Promise<void> {
    if (this.#closer.signal.aborted) return;
    clearInterval(this.#sweeper);
    const session = this.#current ?? (await this.#opening?.catch(() => undefined));
    this.#current = undefined;
    if (session) await session.end();
    this.#closer.abort(new ClosedError('the coordinator was closed'));
    this.listener.close();
    await Promise.all([this.link.close(), this.#fenced.close()]);
    this.health.closed();
  }
}
