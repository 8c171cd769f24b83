/**
 * Every statement the adapter sends, as named (prepared) statements over one schema's functions:
 * parsed and planned once per connection, then one Bind/Execute per call.
 * @module
 */
import type { GuardedOp } from '../contract.js';
import type { Statement } from './link.js';
import { ident } from './schema.js';

export interface Statements {
  openSession(ttlSeconds: number): Statement;
  renewSession(id: string): Statement;
  endSession(id: string): Statement;
  enqueue(session: string, prefix: string, key: string, role: string, value: string): Statement;
  list(prefix: string): Statement;
  get(key: string): Statement;
  /** `list` and `get` that write nothing: keys of expired sessions are left out, not deleted. */
  listReadOnly(prefix: string): Statement;
  getReadOnly(key: string): Statement;
  deleteIf(key: string, revision: bigint): Statement;
  deleteByName(key: string): Statement;
  updateIf(key: string, revision: bigint, value: string): Statement;
  guardedWrite(key: string, revision: bigint, ops: readonly GuardedOp[]): Statement;
  sweep(): Statement;
}

export function statementsFor(schema: string): Statements {
  const s = ident(schema);
  // Prepared statement names are per connection; the schema is part of the name in case one
  // connection ever serves two schemas.
  const named = (name: string, text: string, values: readonly unknown[]): Statement => ({ name: `baton_${schema}_${name}`, text, values });
  // As list_keys and get_key compute them (schema.ts), for the read-only forms.
  const expiresInMs = '(extract(epoch FROM x.expires_at - clock_timestamp()) * 1000)::double precision';
  const live = '(k.session_id IS NULL OR x.expires_at > clock_timestamp())';
  return {
    openSession: (ttl) => named('open_session', `SELECT o_id FROM ${s}.open_session($1)`, [ttl]),
    renewSession: (id) => named('renew_session', `SELECT ${s}.renew_session($1) AS renewed`, [id]),
    endSession: (id) => named('end_session', `DELETE FROM ${s}.sessions WHERE id = $1`, [id]),
    // Plain keys under the prefix (a guarded write's `NAME/state`) are no members of the queue.
    // The outer query's snapshot predates the function's, so it cannot be asked for contenders
    // (one committed meanwhile would be missed); it is asked which rows are plain instead. A plain
    // key written meanwhile gets through; waitForBlocker does not wait for one.
    enqueue: (session, prefix, key, role, value) =>
      named(
        'enqueue_members',
        `SELECT e.o_key, e.o_role, e.o_revision FROM ${s}.enqueue($1, $2, $3, $4, $5) e ` +
          `WHERE NOT EXISTS (SELECT 1 FROM ${s}.keys p WHERE p.key = e.o_key AND p.session_id IS NULL)`,
        [session, prefix, key, role, value],
      ),
    list: (prefix) => named('list_keys', `SELECT o_key, o_role, o_revision, o_expires_in_ms FROM ${s}.list_keys($1)`, [prefix]),
    get: (key) => named('get_key', `SELECT o_value, o_revision, o_created_at, o_expires_in_ms FROM ${s}.get_key($1)`, [key]),
    listReadOnly: (prefix) =>
      named(
        'list_keys_ro',
        `SELECT k.key AS o_key, k.role AS o_role, k.revision AS o_revision, ${expiresInMs} AS o_expires_in_ms ` +
          `FROM ${s}.keys k LEFT JOIN ${s}.sessions x ON x.id = k.session_id WHERE k.prefix = $1 AND ${live} ORDER BY k.revision`,
        [prefix],
      ),
    getReadOnly: (key) =>
      named(
        'get_key_ro',
        `SELECT k.value AS o_value, k.revision AS o_revision, k.created_at AS o_created_at, ${expiresInMs} AS o_expires_in_ms ` +
          `FROM ${s}.keys k LEFT JOIN ${s}.sessions x ON x.id = k.session_id WHERE k.key = $1 AND ${live}`,
        [key],
      ),
    deleteIf: (key, revision) => named('delete_if', `SELECT ${s}.delete_if($1, $2) AS deleted`, [key, String(revision)]),
    deleteByName: (key) => named('delete_by_name', `DELETE FROM ${s}.keys WHERE key = $1`, [key]),
    updateIf: (key, revision, value) => named('update_if', `SELECT ${s}.update_if($1, $2, $3) AS updated`, [key, String(revision), value]),
    guardedWrite: (key, revision, ops) =>
      named('guarded_write', `SELECT ${s}.guarded_write($1, $2, $3::jsonb) AS written`, [key, String(revision), JSON.stringify(ops)]),
    sweep: () => named('sweep', `SELECT ${s}.sweep() AS swept`, []),
  };
}
