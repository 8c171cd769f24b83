/**
 * The `etcd3` client as the adapter uses it: one connection pool per coordinator, unary calls
 * retried through transient failures (no leader, leader changed, member unreachable) for a
 * bounded time, and every failure turned into a {@link BackendError} that says what failed where.
 *
 * Every write the adapter sends is guarded by a compare on a create revision, so retrying one
 * that may already have committed is safe: the retry's compare fails and the caller recognises
 * its own earlier success (see the session's `enqueue`).
 * @module
 */
import {
  Etcd3,
  EtcdAuthenticationFailedError,
  EtcdLeaseInvalidError,
  EtcdPermissionDeniedError,
  EtcdUserNotFoundError,
  type IOptions,
  isRecoverableError,
} from 'etcd3';
import { BackendError, ClosedError } from '../../errors.js';
import type { EtcdOptions } from './config.js';

/** How long a unary call keeps retrying through transient failures. */
const RETRY_BUDGET_MS = 15_000;
const FIRST_BACKOFF_MS = 25;
const MAX_BACKOFF_MS = 500;

/** A policy object that runs the call once: the adapter retries itself, with backoff. */
const once = {
  // async: etcd3 also calls execute with a function that throws, and expects a rejected promise.
  execute: async (fn: (context: { signal: AbortSignal; attempt: number }) => unknown) => fn({ signal: new AbortController().signal, attempt: 0 }),
};

/** Builds the `etcd3` client for validated options. */
export function createClient(options: EtcdOptions): Etcd3 {
  const scheme = options.https ? 'https://' : 'http://';
  const config: IOptions = {
    hosts: options.endpoints.map((endpoint) => `${scheme}${endpoint}`),
    faultHandling: { global: once as never, host: () => once as never },
    grpcOptions: {
      // Notice a silently dead connection within seconds, not minutes. etcd refuses pings more
      // often than every 5 s (--grpc-keepalive-min-time) by closing the connection: stay above.
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5000,
    },
  };
  if (options.https) {
    const tls = options.tls ?? {};
    config.credentials = {
      rootCertificate: tls.ca as Buffer,
      ...(tls.key ? { privateKey: tls.key } : {}),
      ...(tls.cert ? { certChain: tls.cert } : {}),
    };
    // grpc-js falls back to the system roots when no CA is given.
    if (!tls.ca) delete (config.credentials as { rootCertificate?: Buffer }).rootCertificate;
  }
  if (options.auth) config.auth = { username: options.auth.username, password: options.auth.password };
  return new Etcd3(config);
}

/** Whether an error from `etcd3` is worth retrying: the cluster may answer a moment later. */
export function isTransient(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  if (isRecoverableError(error as Error)) return true;
  const message = String((error as Error).message ?? '');
  return /no leader|leader changed|timed out|too many requests|unavailable|ECONNREFUSED|ECONNRESET|not capable|stopped/i.test(message);
}

/** Whether `etcd3` reports that a lease does not exist (revoked or expired). */
export function isLeaseNotFound(error: unknown): boolean {
  return error instanceof EtcdLeaseInvalidError || /requested lease not found/.test(String((error as Error)?.message));
}

/**
 * Runs `call`, retrying transient failures with backoff for up to {@link RETRY_BUDGET_MS}, or
 * until `closed()` says the adapter was closed. Non-transient failures are thrown at once,
 * translated by {@link explain}.
 */
export async function withRetry<T>(what: string, options: EtcdOptions, closed: () => boolean, call: () => Promise<T>): Promise<T> {
  const giveUpAt = Date.now() + RETRY_BUDGET_MS;
  let backoff = FIRST_BACKOFF_MS;
  for (;;) {
    if (closed()) throw new ClosedError('the coordinator was closed');
    try {
      return await call();
    } catch (error) {
      if (closed()) throw new ClosedError('the coordinator was closed', { cause: error });
      if (!isTransient(error) || Date.now() + backoff > giveUpAt) throw explain(error, what, options);
      await new Promise((resolve) => setTimeout(resolve, backoff));
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    }
  }
}

/** Turns an `etcd3`/gRPC failure into a BackendError naming the operation and the endpoints. */
export function explain(error: unknown, what: string, options: EtcdOptions): unknown {
  if (error instanceof BackendError || error instanceof ClosedError) return error;
  if (isLeaseNotFound(error)) return error; // the session layer turns this into a session loss
  const where = `etcd at ${options.endpoints.join(',')}`;
  const message = String((error as Error)?.message ?? error);
  if (error instanceof EtcdAuthenticationFailedError || error instanceof EtcdUserNotFoundError || /authentication failed|user name not found/.test(message)) {
    const user = options.auth ? `user "${options.auth.username}"` : 'the client';
    return new BackendError(`${what}: ${where} rejected ${user}: wrong user name or password (${message})`, { cause: error });
  }
  if (error instanceof EtcdPermissionDeniedError || /permission denied/.test(message)) {
    const user = options.auth ? `user "${options.auth.username}"` : 'an unauthenticated client (give user:pass@ in the URL or auth in the config)';
    return new BackendError(`${what}: ${where} denied ${user} access to the keys (${message})`, { cause: error });
  }
  if (/user name is empty|auth.*not enabled/i.test(message)) {
    return new BackendError(`${what}: ${where} requires authentication: give user:pass@ in the URL or auth in the config (${message})`, { cause: error });
  }
  if (/ssl|tls|certificate|handshake|wrong version number/i.test(message)) {
    return new BackendError(`${what}: TLS with ${where} failed (${message}); check etcd+https://, the CA and the client certificate`, { cause: error });
  }
  if (isTransient(error)) {
    const hint = options.https ? '' : '; if the members serve TLS, use etcd+https://';
    return new BackendError(`${what}: ${where} is unreachable or has no leader (${message})${hint}`, { cause: error });
  }
  return new BackendError(`${what}: ${where} failed: ${message}`, { cause: error });
}
