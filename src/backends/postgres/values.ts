/**
 * Plain keys on PostgreSQL: rows of the `keys` table with no session. A write takes a new
 * revision from the one sequence, so a value's revision grows with every write and is ordered
 * with every token; compare-and-set is an UPDATE on the revision read (an INSERT that does nothing
 * when the row exists, for a value that must not exist yet). Writes run once: an unknown outcome
 * is reported, never retried.
 * @module
 */
import type { KeyState, PlainKeys, StoredValue, Watched } from '../contract.js';
import { readValue, watchValue } from '../values-from-keys.js';
import { parentOf } from '../key-paths.js';
import type { Link } from './link.js';
import { ident } from './schema.js';

/** What plain keys need from the backend. */
export interface ValuesHost {
  readonly link: Link;
  readonly options: { readonly schema: string };
  get(key: string, signal?: AbortSignal): Promise<KeyState | undefined>;
  watchKey(key: string, signal: AbortSignal): Promise<Watched<KeyState | undefined>>;
}

export class PostgresValues implements PlainKeys {
  /** No other client's barrier to share: a barrier keeps a key of its own. */
  readonly barrierIsTheName = false;

  // The host is still being built when this is made: read its options when first needed.
  constructor(private readonly host: ValuesHost) {}

  get #keys(): string {
    return `${ident(this.host.options.schema)}.keys`;
  }

  get #revisions(): string {
    return `${this.host.options.schema.replace(/'/g, "''")}.revisions`;
  }

  read(name: string, signal?: AbortSignal): Promise<StoredValue | undefined> {
    return readValue(this.host, name, signal);
  }

  watch(name: string, signal: AbortSignal): Promise<Watched<StoredValue | undefined>> {
    return watchValue(this.host, name, signal);
  }

  async write(name: string, expected: StoredValue | undefined, value: string, signal?: AbortSignal): Promise<StoredValue | undefined> {
    const statement =
      expected === undefined
        ? {
            text:
              `INSERT INTO ${this.#keys} (key, prefix, revision, value) VALUES ($1, $2, nextval('${this.#revisions}'), $3) ` +
              'ON CONFLICT (key) DO NOTHING RETURNING revision::text',
            values: [name, parentOf(name), value],
          }
        : {
            text: `UPDATE ${this.#keys} SET value = $2, revision = nextval('${this.#revisions}') WHERE key = $1 AND revision = $3 AND session_id IS NULL RETURNING revision::text`,
            values: [name, value, expected.revision.toString()],
          };
    const result = await this.host.link.run(`writing ${name}`, statement, 'once', signal);
    const row = result.rows[0] as { revision: string } | undefined;
    return row && { value, revision: BigInt(row.revision) };
  }

  async delete(name: string, expected?: StoredValue, signal?: AbortSignal): Promise<boolean> {
    const statement = {
      text: `DELETE FROM ${this.#keys} WHERE key = $1 AND session_id IS NULL AND ($2::bigint IS NULL OR revision = $2::bigint) RETURNING 1`,
      values: [name, expected?.revision.toString() ?? null],
    };
    const result = await this.host.link.run(`deleting ${name}`, statement, 'once', signal);
    return (result.rowCount ?? 0) > 0;
  }
}
