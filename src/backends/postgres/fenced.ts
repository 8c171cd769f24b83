/**
 * Fenced transactions, which only PostgreSQL among Baton's backends can offer: the user's own SQL
 * runs in a transaction that first locks the hold's key row (FOR SHARE) after checking that the
 * key still has the hold's token and its session is live, and checks the session again right
 * before COMMIT. While the row is locked nobody can delete it, so no successor can be admitted
 * before this transaction ends: its writes commit only while the hold is valid.
 *
 * The first statement also sets `idle_in_transaction_session_timeout` to the session's remaining
 * time, so a client that stops (a GC pause, SIGSTOP) in the middle of the transaction has it ended
 * by the server instead of blocking successors with its lock.
 * @module
 */
import pg from 'pg';
import { LeaseLostError } from '../../errors.js';
import { type PostgresOptions, clientConfig } from './config.js';
import { isConnectionFailure, outcomeUnknown } from './errors.js';
import { FENCE_FAILED_SQLSTATE, ident } from './schema.js';

/** The connection your SQL runs on: a node-postgres client inside the open transaction. */
export interface FencedClient {
  query(text: string, values?: readonly unknown[]): Promise<{ rows: Record<string, unknown>[]; rowCount: number | null }>;
}

/** The part of a lease a fenced transaction needs. */
export interface HoldRef {
  readonly key: string;
  readonly token: bigint;
  readonly name?: string;
}

/** The user's work: SQL on `client`, inside the fenced transaction (do not COMMIT or ROLLBACK). */
export type FencedTransactionFn<T> = (client: FencedClient) => Promise<T>;

export interface FencedOptions {
  /** A client of your own (connected to the same database); by default one from Baton's pool. */
  client?: FencedClient;
}

const POOL_SIZE = 4;

export class FencedTransactions {
  readonly #options: PostgresOptions;
  #pool: pg.Pool | undefined;

  constructor(options: PostgresOptions) {
    this.#options = options;
  }

  #getPool(): pg.Pool {
    if (!this.#pool) {
      this.#pool = new pg.Pool({ ...clientConfig(this.#options, 'baton-fenced'), max: POOL_SIZE });
      // An idle pooled connection that breaks emits 'error' on the pool: it is replaced on next use.
      this.#pool.on('error', () => {});
    }
    return this.#pool;
  }

  async run<T>(hold: HoldRef, fn: FencedTransactionFn<T>, options: FencedOptions): Promise<T> {
    const pooled = options.client ? undefined : await this.#getPool().connect();
    const client = (options.client ?? pooled!) as FencedClient;
    let broken = false;
    const s = ident(this.#options.schema);
    const args = `${pg.escapeLiteral(hold.key)}, ${BigInt(hold.token)}`;
    const what = hold.name ? `${hold.name} (${hold.key}, token ${hold.token})` : `${hold.key} (token ${hold.token})`;
    const rollback = async () => {
      await client.query('ROLLBACK').catch(() => {
        broken = true;
      });
    };
    try {
      try {
        // One round trip: BEGIN and the fence.
        await client.query(`BEGIN; SELECT ${s}.fence(${args})`);
      } catch (error) {
        await rollback();
        if (isFenceFailure(error)) throw new LeaseLostError(`fenced transaction refused: the hold on ${what} is no longer valid`, { cause: error });
        if (isConnectionFailure(error)) broken = true;
        throw error;
      }
      let result: T;
      try {
        result = await fn(client);
      } catch (error) {
        await rollback();
        throw error;
      }
      try {
        await client.query(`SELECT ${s}.check_fence(${args}); COMMIT`);
      } catch (error) {
        await rollback();
        if (isFenceFailure(error)) throw new LeaseLostError(`fenced transaction rolled back: the hold on ${what} expired before COMMIT`, { cause: error });
        if (isConnectionFailure(error)) {
          broken = true;
          throw outcomeUnknown(`fenced transaction on ${what}: the connection failed during COMMIT`, error);
        }
        throw error;
      }
      return result;
    } finally {
      // A connection the server ended (idle timeout, termination) must not go back to the pool.
      pooled?.release(broken || undefined);
    }
  }

  async close(): Promise<void> {
    const pool = this.#pool;
    this.#pool = undefined;
    await pool?.end().catch(() => {});
  }
}

function isFenceFailure(error: unknown): boolean {
  return (error as { code?: string })?.code === FENCE_FAILED_SQLSTATE;
}
