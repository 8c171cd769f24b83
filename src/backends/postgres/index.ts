/**
 * The PostgreSQL backend (`postgres://`, `postgresql://`): sessions as rows with server-clock
 * expiry, revisions from one sequence, LISTEN/NOTIFY waits, and fenced transactions that commit
 * only while a hold is valid. See docs/postgres.md.
 * @module
 */
import type { BackendModule } from '../contract.js';
import { PostgresBackend } from './backend.js';
import { type PostgresOptions, optionsFromObject, optionsFromUrl } from './config.js';

export { PostgresBackend } from './backend.js';
export type { PostgresOptions, SslMode } from './config.js';
export type { FencedOptions, FencedTransactionFn, HoldRef } from './fenced.js';

/** The `postgres://` / `postgresql://` backend module. */
export const postgresBackend: BackendModule<PostgresOptions> = {
  kind: 'postgres',
  fromUrl: optionsFromUrl,
  fromObject: optionsFromObject,
  connect: (options: PostgresOptions, signal?: AbortSignal) => PostgresBackend.connect(options, signal),
};
