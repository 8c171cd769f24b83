/**
 * Creates or upgrades Baton's schema on first use. Versioned (`<schema>.migrations` records each
 * version applied) and idempotent; concurrent first uses are serialized by an advisory lock, and a
 * user whose schema is already current needs no right to create anything.
 * @module
 */
import type pg from 'pg';
import { BackendError } from '../../errors.js';
import { type PostgresOptions, describeTarget } from './config.js';
import { ident, migrations, SCHEMA_VERSION } from './schema.js';

/** Brings `options.schema` to {@link SCHEMA_VERSION} over `client` (an idle connection). */
export async function migrate(client: pg.Client, options: PostgresOptions): Promise<void> {
  const found = await installedVersion(client, options);
  if (found === SCHEMA_VERSION) return;
  if (found > SCHEMA_VERSION) {
    throw new BackendError(
      `PostgreSQL ${describeTarget(options)}: schema "${options.schema}" is at version ${found}, newer than this Baton (${SCHEMA_VERSION}); upgrade Baton or use another schema (?schema=NAME)`,
    );
  }
  const s = ident(options.schema);
  try {
    await client.query('BEGIN');
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('baton-migrate'), hashtext($1))`, [options.schema]);
    const exists = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [options.schema]);
    // CREATE SCHEMA IF NOT EXISTS checks the right to create before looking: ask first.
    if (exists.rowCount === 0) await client.query(`CREATE SCHEMA ${s}`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${s}.migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
    const current = Number((await client.query(`SELECT coalesce(max(version), 0) AS version FROM ${s}.migrations`)).rows[0].version);
    const steps = migrations(options.schema);
    for (let version = current + 1; version <= SCHEMA_VERSION; version++) {
      await client.query(steps[version - 1]!);
      await client.query(`INSERT INTO ${s}.migrations (version) VALUES ($1)`, [version]);
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    if ((error as { code?: string }).code === '42501') throw missingRights(options, error, 'create');
    throw new BackendError(`PostgreSQL ${describeTarget(options)}: creating schema "${options.schema}" failed: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * For a read-only coordinator: checks, writing nothing, that `options.schema` is absent (reads
 * then find nothing) or at {@link SCHEMA_VERSION}.
 */
export async function checkSchemaForReading(client: pg.Client, options: PostgresOptions): Promise<void> {
  const found = await installedVersion(client, options);
  if (found === 0 || found === SCHEMA_VERSION) return;
  throw new BackendError(
    `PostgreSQL ${describeTarget(options)}: schema "${options.schema}" is at version ${found}, ` +
      (found > SCHEMA_VERSION
        ? `newer than this Baton (${SCHEMA_VERSION}); upgrade Baton or use another schema (?schema=NAME)`
        : `older than this Baton (${SCHEMA_VERSION}), and a read-only connection does not upgrade it; connect once without readonly to upgrade it`),
  );
}

/** Whether `error` says the schema, one of its tables or functions does not exist (yet). */
export function isMissingSchema(error: unknown): boolean {
  const code = (error as { code?: string } | undefined)?.code;
  return code === '3F000' || code === '42P01' || code === '42883';
}

/** The version recorded in the schema, 0 when there is no schema or no migrations table yet. */
async function installedVersion(client: pg.Client, options: PostgresOptions): Promise<number> {
  try {
    const result = await client.query(`SELECT coalesce(max(version), 0) AS version FROM ${ident(options.schema)}.migrations`);
    return Number(result.rows[0].version);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === '3F000' || code === '42P01') return 0; // no schema, no table
    if (code === '42501') throw missingRights(options, error, 'use');
    throw error;
  }
}

/** A BackendError naming the grants that would fix a permission error. */
export function missingRights(options: PostgresOptions, cause: unknown, need: 'create' | 'use'): BackendError {
  const user = ident(options.user);
  const schema = ident(options.schema);
  const database = ident(options.database);
  const detail = (cause as Error)?.message ?? String(cause);
  const how =
    need === 'create'
      ? `Baton creates schema ${schema} and its tables on first use. Either allow that: ` +
        `GRANT CREATE ON DATABASE ${database} TO ${user}; ` +
        `or have an administrator create the schema for this user: CREATE SCHEMA ${schema} AUTHORIZATION ${user}; ` +
        `(or, for an existing schema: GRANT USAGE, CREATE ON SCHEMA ${schema} TO ${user};). Or choose another schema with ?schema=NAME.`
      : `To use schema ${schema} created by another user, an administrator must run: ` +
        `GRANT USAGE ON SCHEMA ${schema} TO ${user}; ` +
        `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ${schema} TO ${user}; ` +
        `GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA ${schema} TO ${user};`;
  return new BackendError(`PostgreSQL ${describeTarget(options)}: user ${user} lacks rights on schema ${schema} (${detail}). ${how}`, { cause });
}
