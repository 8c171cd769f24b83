/**
 * Baton's tables and functions in one schema (default `baton`), created on first use by a
 * versioned, idempotent migration.
 *
 * - `sessions`: one row per session; `expires_at` is set from the server's clock (`now() + ttl`)
 *   at creation and at every renewal, and a renewal never brings back an expired row.
 * - `keys`: every key, contender keys (with their session) and plain keys written by guarded
 *   writes (no session). `revision` comes from ONE sequence and is the fencing token.
 * - A trigger NOTIFYs `<schema>.keys` on every insert, update and delete of a key with
 *   `<i|u|d> <revision> <key>`, so waits are woken by events, not polling.
 * - `enqueue` serializes per prefix with a transaction-level advisory lock: sequence values are
 *   handed out outside transactions, so without it a lister could see revision 11 committed while
 *   10 is still in flight and admit both. With the lock, a prefix's keys commit in revision order.
 * - Keys of expired sessions are deleted by `enqueue`, `list_keys` and `get_key` before they read,
 *   and by a periodic sweep. A deletion waits for the row lock a fenced transaction holds, so a
 *   successor is never admitted while a fenced transaction of the previous holder can commit.
 *
 * The functions are VOLATILE plpgsql: each statement in them takes a new snapshot, so the listing
 * in `enqueue` is read after the advisory lock is granted (one statement of plain SQL would read
 * with the snapshot taken before it waited for the lock, and miss the key committed meanwhile).
 * @module
 */

/** The schema version this code needs; the migrations below bring a schema up to it. */
export const SCHEMA_VERSION = 1;

/** SQLSTATE raised when a session has expired or ended (enqueue) or a fence fails. */
export const SESSION_GONE_SQLSTATE = 'BT001';
export const FENCE_FAILED_SQLSTATE = 'BT002';

/** A double-quoted SQL identifier. Schema names are validated to plain identifiers already. */
export function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** The NOTIFY channel of a schema's key changes. */
export function channelOf(schema: string): string {
  return `${schema}.keys`;
}

/** The DDL of each version, in order; version N's text brings N-1 to N. */
export function migrations(schema: string): string[] {
  const s = ident(schema);
  const channel = channelOf(schema).replace(/'/g, "''");
  const parent = (expr: string) => `CASE WHEN strpos(${expr}, '/') > 0 THEN regexp_replace(${expr}, '/[^/]*$', '') ELSE '' END`;
  const expiredUnder = (condition: string) =>
    `DELETE FROM ${s}.keys k USING ${s}.sessions x WHERE ${condition} AND k.session_id = x.id AND x.expires_at <= clock_timestamp();`;
  return [
    `
CREATE SEQUENCE ${s}.revisions;

CREATE TABLE ${s}.sessions (
  id bigserial PRIMARY KEY,
  ttl interval NOT NULL,
  expires_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sessions_expires_at ON ${s}.sessions (expires_at);

CREATE TABLE ${s}.keys (
  key text PRIMARY KEY,
  prefix text NOT NULL,
  revision bigint NOT NULL UNIQUE,
  session_id bigint REFERENCES ${s}.sessions (id) ON DELETE CASCADE,
  role text NOT NULL DEFAULT 'lock',
  value text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX keys_prefix_revision ON ${s}.keys (prefix, revision);
CREATE INDEX keys_session ON ${s}.keys (session_id);

CREATE FUNCTION ${s}.notify_key_change() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  changed ${s}.keys;
  kind text;
BEGIN
  IF TG_OP = 'DELETE' THEN changed := OLD; kind := 'd';
  ELSIF TG_OP = 'INSERT' THEN changed := NEW; kind := 'i';
  ELSE changed := NEW; kind := 'u';
  END IF;
  -- NOTIFY payloads stop at 8000 bytes: a longer key is announced as "something changed".
  IF octet_length(changed.key) < 7000 THEN
    PERFORM pg_notify('${channel}', kind || ' ' || changed.revision || ' ' || changed.key);
  ELSE
    PERFORM pg_notify('${channel}', '');
  END IF;
  RETURN NULL;
END
$fn$;
CREATE TRIGGER keys_notify AFTER INSERT OR UPDATE OR DELETE ON ${s}.keys
  FOR EACH ROW EXECUTE FUNCTION ${s}.notify_key_change();

CREATE FUNCTION ${s}.open_session(p_ttl_seconds double precision)
RETURNS TABLE (o_id bigint) LANGUAGE sql AS $fn$
  INSERT INTO ${s}.sessions (ttl, expires_at)
  VALUES (make_interval(secs => p_ttl_seconds), now() + make_interval(secs => p_ttl_seconds))
  RETURNING id;
$fn$;

-- Moves expires_at forward from the server's clock; an expired session stays expired.
CREATE FUNCTION ${s}.renew_session(p_id bigint) RETURNS boolean LANGUAGE sql AS $fn$
  WITH renewed AS (
    UPDATE ${s}.sessions SET expires_at = now() + ttl
    WHERE id = p_id AND expires_at > clock_timestamp() RETURNING 1
  ) SELECT EXISTS (SELECT 1 FROM renewed);
$fn$;

CREATE FUNCTION ${s}.enqueue(p_session bigint, p_prefix text, p_key text, p_role text, p_value text)
RETURNS TABLE (o_key text, o_role text, o_revision bigint) LANGUAGE plpgsql AS $fn$
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('${channel}'), hashtext(p_prefix));
  PERFORM 1 FROM ${s}.sessions x WHERE x.id = p_session AND x.expires_at > clock_timestamp() FOR KEY SHARE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'baton session % has expired or ended on the server', p_session USING ERRCODE = '${SESSION_GONE_SQLSTATE}';
  END IF;
  ${expiredUnder('k.prefix = p_prefix')}
  -- A retry of an enqueue whose answer was lost finds its key (names are never reused).
  INSERT INTO ${s}.keys (key, prefix, revision, session_id, role, value)
  VALUES (p_key, p_prefix, nextval('${s}.revisions'), p_session, p_role, p_value)
  ON CONFLICT (key) DO NOTHING;
  RETURN QUERY SELECT k.key, k.role, k.revision FROM ${s}.keys k WHERE k.prefix = p_prefix ORDER BY k.revision;
END
$fn$;

-- o_expires_in_ms: how long each key's session has left by the server's clock (null: no session).
CREATE FUNCTION ${s}.list_keys(p_prefix text)
RETURNS TABLE (o_key text, o_role text, o_revision bigint, o_expires_in_ms double precision) LANGUAGE plpgsql AS $fn$
BEGIN
  ${expiredUnder('k.prefix = p_prefix')}
  RETURN QUERY SELECT k.key, k.role, k.revision, (extract(epoch FROM x.expires_at - clock_timestamp()) * 1000)::double precision
    FROM ${s}.keys k LEFT JOIN ${s}.sessions x ON x.id = k.session_id WHERE k.prefix = p_prefix ORDER BY k.revision;
END
$fn$;

CREATE FUNCTION ${s}.get_key(p_key text)
RETURNS TABLE (o_value text, o_revision bigint, o_created_at timestamptz, o_expires_in_ms double precision) LANGUAGE plpgsql AS $fn$
BEGIN
  ${expiredUnder('k.key = p_key')}
  RETURN QUERY SELECT k.value, k.revision, k.created_at, (extract(epoch FROM x.expires_at - clock_timestamp()) * 1000)::double precision
    FROM ${s}.keys k LEFT JOIN ${s}.sessions x ON x.id = k.session_id WHERE k.key = p_key;
END
$fn$;

CREATE FUNCTION ${s}.delete_if(p_key text, p_revision bigint) RETURNS boolean LANGUAGE sql AS $fn$
  WITH deleted AS (DELETE FROM ${s}.keys WHERE key = p_key AND revision = p_revision RETURNING 1)
  SELECT EXISTS (SELECT 1 FROM deleted);
$fn$;

-- Locks a hold's key row (FOR SHARE) if it still has the revision and its session is live; the
-- lock lasts until the calling transaction ends, so no one can delete the key meanwhile.
-- Returns the session's remaining time in ms, or null when the hold is no longer valid.
CREATE FUNCTION ${s}.lock_hold(p_key text, p_revision bigint) RETURNS double precision LANGUAGE sql AS $fn$
  SELECT (extract(epoch FROM x.expires_at - clock_timestamp()) * 1000)::double precision
  FROM ${s}.keys k JOIN ${s}.sessions x ON x.id = k.session_id
  WHERE k.key = p_key AND k.revision = p_revision AND x.expires_at > clock_timestamp()
  FOR SHARE OF k;
$fn$;

CREATE FUNCTION ${s}.update_if(p_key text, p_revision bigint, p_value text) RETURNS boolean LANGUAGE plpgsql AS $fn$
BEGIN
  IF ${s}.lock_hold(p_key, p_revision) IS NULL THEN RETURN false; END IF;
  UPDATE ${s}.keys SET value = p_value WHERE key = p_key;
  RETURN true;
END
$fn$;

-- Applies [{"put": key, "value": v} | {"delete": key}, ...] only while the hold is valid.
CREATE FUNCTION ${s}.guarded_write(p_key text, p_revision bigint, p_ops jsonb) RETURNS boolean LANGUAGE plpgsql AS $fn$
DECLARE
  op jsonb;
BEGIN
  IF ${s}.lock_hold(p_key, p_revision) IS NULL THEN RETURN false; END IF;
  FOR op IN SELECT value FROM jsonb_array_elements(p_ops) LOOP
    IF op ? 'put' THEN
      INSERT INTO ${s}.keys (key, prefix, revision, value)
      VALUES (op->>'put', ${parent("(op->>'put')")}, nextval('${s}.revisions'), op->>'value')
      ON CONFLICT (key) DO UPDATE SET value = excluded.value;
    ELSE
      DELETE FROM ${s}.keys WHERE key = op->>'delete';
    END IF;
  END LOOP;
  RETURN true;
END
$fn$;

-- The first statement of a fenced transaction: locks the hold's row and makes the server end the
-- transaction if its client goes quiet for longer than the session has left.
CREATE FUNCTION ${s}.fence(p_key text, p_revision bigint) RETURNS bigint LANGUAGE plpgsql AS $fn$
DECLARE
  remaining double precision := ${s}.lock_hold(p_key, p_revision);
BEGIN
  IF remaining IS NULL THEN
    RAISE EXCEPTION 'the hold on % (token %) is no longer valid', p_key, p_revision USING ERRCODE = '${FENCE_FAILED_SQLSTATE}';
  END IF;
  PERFORM set_config('idle_in_transaction_session_timeout', greatest(ceil(remaining), 1)::bigint::text, true);
  RETURN p_revision;
END
$fn$;

-- The last statement before COMMIT: the hold's session must still be live by the server's clock.
CREATE FUNCTION ${s}.check_fence(p_key text, p_revision bigint) RETURNS bigint LANGUAGE plpgsql AS $fn$
BEGIN
  IF ${s}.lock_hold(p_key, p_revision) IS NULL THEN
    RAISE EXCEPTION 'the hold on % (token %) expired during the transaction', p_key, p_revision USING ERRCODE = '${FENCE_FAILED_SQLSTATE}';
  END IF;
  RETURN p_revision;
END
$fn$;

CREATE FUNCTION ${s}.sweep() RETURNS bigint LANGUAGE sql AS $fn$
  WITH swept AS (DELETE FROM ${s}.sessions WHERE expires_at <= clock_timestamp() RETURNING 1)
  SELECT count(*) FROM swept;
$fn$;
`,
  ];
}
