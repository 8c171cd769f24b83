/**
 * The command connection: one node-postgres client that runs a coordinator's statements one at a
 * time, in call order (so acquisitions started in order are queued in that order), each attempt
 * with its own deadline.
 *
 * An attempt that gets no answer in time destroys the connection (a frozen server never answers,
 * and a half-open socket never errors), and the next attempt connects again. Idempotent requests
 * are retried through broken connections until the request's own deadline; a request that must
 * run at most once fails with an error saying its outcome is unknown instead.
 * @module
 */
import pg from 'pg';
import { BackendError, ClosedError } from '../../errors.js';
import { raceSignal } from '../abortable.js';
import { type PostgresOptions, clientConfig } from './config.js';
import { explain, isConnectionFailure, isPermanentConnectError, isRolledBackConflict, outcomeUnknown } from './errors.js';

/** One statement; `name` makes it a prepared statement, parsed once per connection. */
export interface Statement {
  readonly name?: string;
  readonly text: string;
  readonly values?: readonly unknown[];
}

/**
 * `idempotent`: may run again after an attempt whose outcome is unknown (reads, deletes by
 * name and revision, enqueue of a named key). `once`: never; an unknown outcome is reported.
 */
export type RetryPolicy = 'idempotent' | 'once';

export interface LinkTimings {
  /** How long one attempt may wait for its answer before the connection is given up. */
  attemptMs: number;
  /** How long an idempotent request keeps retrying through failures. */
  requestMs: number;
}

const RETRY_DELAYS_MS = [20, 50, 100, 200, 400, 800];

export class Link {
  readonly #options: PostgresOptions;
  readonly #timings: LinkTimings;
  readonly #applicationName: string;
  #client: pg.Client | undefined;
  #connecting: Promise<pg.Client> | undefined;
  #tail: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(options: PostgresOptions, timings: LinkTimings, applicationName: string) {
    this.#options = options;
    this.#timings = timings;
    this.#applicationName = applicationName;
  }

  get timings(): LinkTimings {
    return this.#timings;
  }

  /** A new, connected client with this link's settings (also used for the LISTEN connection). */
  static async open(options: PostgresOptions, applicationName: string, statementTimeoutMs?: number): Promise<pg.Client> {
    const client = new pg.Client({
      ...clientConfig(options, applicationName),
      ...(statementTimeoutMs ? { statement_timeout: statementTimeoutMs } : {}),
    });
    // A broken connection emits 'error'; the statement in flight reports it, nobody else needs to.
    client.on('error', () => {});
    try {
      await client.connect();
    } catch (error) {
      destroy(client);
      throw error;
    }
    return client;
  }

  /** The open connection, connecting first if there is none. */
  connection(): Promise<pg.Client> {
    if (this.#closed) return Promise.reject(new ClosedError('the coordinator was closed'));
    if (this.#client) return Promise.resolve(this.#client);
    this.#connecting ??= Link.open(this.#options, this.#applicationName, this.#timings.attemptMs)
      .then((client) => {
        if (this.#closed) {
          destroy(client);
          throw new ClosedError('the coordinator was closed');
        }
        this.#client = client;
        const dropped = () => {
          if (this.#client === client) this.#client = undefined;
        };
        client.once('end', dropped);
        client.once('error', dropped);
        return client;
      })
      .finally(() => {
        this.#connecting = undefined;
      });
    return this.#connecting;
  }

  /**
   * Runs `statement` after every statement sent before it. Rejects with `signal.reason` as soon as
   * `signal` aborts (a statement already sent still runs; its answer is dropped). `patienceMs`
   * bounds the retries (0: one attempt), so that best-effort work does not hold up the queue.
   */
  run(what: string, statement: Statement, retry: RetryPolicy, signal?: AbortSignal, patienceMs = this.#timings.requestMs): Promise<pg.QueryResult> {
    const turn = this.#tail.then(() => this.#attempts(what, statement, retry, signal, patienceMs));
    this.#tail = turn.catch(() => {});
    return raceSignal(turn, signal);
  }

  async #attempts(what: string, statement: Statement, retry: RetryPolicy, signal: AbortSignal | undefined, patienceMs: number): Promise<pg.QueryResult> {
    const deadline = Date.now() + patienceMs;
    for (let attempt = 0; ; attempt++) {
      if (signal?.aborted) throw signal.reason;
      if (this.#closed) throw new ClosedError('the coordinator was closed');
      let client: pg.Client;
      try {
        client = await this.connection();
      } catch (error) {
        // Nothing was sent: trying again is safe for any request.
        if (error instanceof ClosedError || isPermanentConnectError(error) || Date.now() >= deadline) throw explain(error, what, this.#options);
        await pause(attempt);
        continue;
      }
      try {
        return await this.#attempt(client, statement);
      } catch (error) {
        if (isRolledBackConflict(error) && Date.now() < deadline) {
          await pause(attempt);
          continue;
        }
        if (!isConnectionFailure(error)) throw error;
        this.#drop(client);
        if (retry === 'once') throw outcomeUnknown(`${what}: the connection to PostgreSQL failed before the answer arrived`, error);
        if (Date.now() >= deadline) throw explain(error, what, this.#options);
        await pause(attempt);
      }
    }
  }

  /** One attempt: the statement's answer, or the connection destroyed when none comes in time. */
  #attempt(client: pg.Client, statement: Statement): Promise<pg.QueryResult> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#drop(client);
        reject(new BackendError(`no answer from PostgreSQL within ${this.#timings.attemptMs} ms: Connection terminated (attempt deadline)`));
      }, this.#timings.attemptMs + 500);
      client.query({ name: statement.name, text: statement.text, values: statement.values as unknown[] | undefined }).then(
        (result) => {
          clearTimeout(timer);
          resolve(result);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error);
        },
      );
    });
  }

  #drop(client: pg.Client): void {
    if (this.#client === client) this.#client = undefined;
    destroy(client);
  }

  /** Closes the connection after the statements already queued. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#tail;
    this.#closed = true;
    const client = this.#client;
    this.#client = undefined;
    if (client) await Promise.race([client.end().catch(() => {}), new Promise((r) => setTimeout(r, 1000).unref())]);
    if (client) destroy(client);
  }
}

/** Tears a client's socket down at once (end() would wait for a frozen server). */
export function destroy(client: pg.Client): void {
  const connection = (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection;
  try {
    connection?.stream?.destroy();
  } catch {
    // already gone
  }
}

function pause(attempt: number): Promise<void> {
  const ms = RETRY_DELAYS_MS[Math.min(attempt, RETRY_DELAYS_MS.length - 1)]!;
  return new Promise((resolve) => setTimeout(resolve, ms));
}
