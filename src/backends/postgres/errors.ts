/**
 * What PostgreSQL and node-postgres errors mean for Baton: which ones are a broken connection
 * (worth a new connection), which ones a transaction rolled back that may simply be run again,
 * and messages that say what to do for the ones a user must fix (password, database, grants).
 * @module
 */
import { BackendError, OutcomeUnknownError } from '../../errors.js';
import { type PostgresOptions, describeTarget } from './config.js';

interface PgErrorLike {
  code?: string;
  message?: string;
  severity?: string;
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED']);

/** A server-side error (it has a SQLSTATE and a severity): the server answered. */
export function isServerError(error: unknown): boolean {
  const e = error as PgErrorLike;
  return typeof e?.severity === 'string' && typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code);
}

/**
 * The connection is broken or the server is going away: the connection must be replaced. Whether
 * a statement that was in flight committed is then unknown.
 */
export function isConnectionFailure(error: unknown): boolean {
  const e = error as PgErrorLike;
  if (isServerError(error)) {
    // admin_shutdown (pg_terminate_backend, fast shutdown), crash_shutdown, cannot_connect_now,
    // and the connection_exception class.
    return e.code === '57P01' || e.code === '57P02' || e.code === '57P03' || e.code!.startsWith('08');
  }
  if (typeof e?.code === 'string' && NETWORK_CODES.has(e.code)) return true;
  const message = String(e?.message ?? '');
  return /Connection terminated|timeout expired|not queryable|connection timeout|socket|ECONN|read ETIMEDOUT|EPIPE/i.test(message);
}

/**
 * The statement's transaction was rolled back by the server (deadlock, serialization failure, or
 * cancelled by statement_timeout): nothing of it happened, so running it again is safe.
 */
export function isRolledBackConflict(error: unknown): boolean {
  const code = (error as PgErrorLike)?.code;
  return isServerError(error) && (code === '40P01' || code === '40001' || code === '57014');
}

/** A write whose outcome cannot be known: it may or may not have committed. */
export function outcomeUnknown(message: string, cause: unknown): OutcomeUnknownError {
  return new OutcomeUnknownError(`${message}; it may or may not have been applied (outcome unknown)`, { cause });
}

/** An error at connect time that retrying will not fix: wrong password, no database, no access. */
export function isPermanentConnectError(error: unknown): boolean {
  const code = (error as PgErrorLike)?.code;
  if (!isServerError(error)) return /self.signed|certificate|SSL|TLS|does not support SSL/i.test(String((error as PgErrorLike)?.message));
  return code!.startsWith('28') || code === '3D000' || code === '42501';
}

/** A BackendError that says what failed and, for errors a user must fix, how. */
export function explain(error: unknown, doing: string, options: PostgresOptions): BackendError {
  if (error instanceof BackendError) return error;
  const e = error as PgErrorLike;
  const target = describeTarget(options);
  const raw = e?.message ?? String(error);
  let advice = '';
  switch (e?.code) {
    case '28P01':
      advice = `: password authentication failed for user "${options.user}"; check the password in the URL or the object form's "password"`;
      break;
    case '28000':
      advice = `: the server refused user "${options.user}" (${raw}); check pg_hba.conf and the user name`;
      break;
    case '3D000':
      advice = `: database "${options.database}" does not exist; create it (createdb ${options.database}) or name an existing database in the URL path`;
      break;
    case 'ECONNREFUSED':
      advice = `: connection refused; is PostgreSQL running and listening on ${options.host}:${options.port}?`;
      break;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      advice = `: host "${options.host}" not found`;
      break;
    default:
      if (/timeout/i.test(raw)) advice = `: no answer within ${options.connectTimeoutMs} ms (${raw}); is ${options.host}:${options.port} reachable?`;
      else advice = `: ${raw}`;
  }
  return new BackendError(`PostgreSQL ${target}: ${doing} failed${advice}`, { cause: error });
}
