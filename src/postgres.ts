/**
 * Fenced transactions: PostgreSQL only. Your SQL runs in a transaction that commits only while a
 * hold is valid, checked inside the same database as the data you change.
 *
 * ```ts
 * const lease = await coord.mutex('inventory/sku-42').acquire();
 * await fencedTransaction(coord, lease, async (sql) => {
 *   await sql.query('UPDATE stock SET count = count - 1 WHERE sku = $1', ['sku-42']);
 * });
 * ```
 * @module
 */
import type { FencedClient } from './backends/postgres/fenced.js';
import { backendOf, type Coordinator } from './coordinator.js';
import { InvalidArgumentError } from './errors.js';
import type { Lease } from './recipes/types.js';

// Declared beside the adapter, which must not depend on this module (it reaches the coordinator).
export type { FencedClient };

export interface FencedTransactionOptions {
  /**
   * A node-postgres client of your own, connected to the database Baton uses. By default a
   * connection from a small pool that the coordinator keeps for fenced transactions.
   */
  client?: FencedClient;
}

interface FencingBackend {
  readonly kind: string;
  fencedTransaction<T>(hold: { key: string; token: bigint; name: string }, fn: (client: FencedClient) => Promise<T>, options: FencedTransactionOptions): Promise<T>;
}

/**
 * Runs `fn` in one transaction that first locks `lease`'s key row (`SELECT ... FOR SHARE`) after
 * checking that it still carries the lease's token and that its session is live by the server's
 * clock, and checks the session again right before COMMIT. So the transaction's writes commit
 * only while the hold is valid; otherwise it rolls back and rejects with a `LeaseLostError`.
 * While it runs no successor can be admitted (the locked row cannot be deleted). If the client
 * goes quiet mid-transaction for longer than the session has left, the server ends the
 * transaction. Resolves to what `fn` resolved to; if `fn` throws, rolls back and rethrows.
 * A failure during COMMIT whose result is unknown rejects with a BackendError that says so.
 */
export function fencedTransaction<T>(
  coord: Coordinator,
  lease: Lease,
  fn: (client: FencedClient) => Promise<T>,
  options: FencedTransactionOptions = {},
): Promise<T> {
  const backend = backendOf(coord) as unknown as FencingBackend;
  if (backend.kind !== 'postgres') {
    return Promise.reject(
      new InvalidArgumentError(`fencedTransaction needs the PostgreSQL backend, not ${backend.kind}; on other backends use lease.guardedWrite or a FencingGuard`),
    );
  }
  if (typeof fn !== 'function') return Promise.reject(new InvalidArgumentError('fencedTransaction needs a function (client) => Promise'));
  return backend.fencedTransaction({ key: lease.key, token: lease.token, name: lease.name }, fn, options);
}
