/**
 * What etcd's refusals and the transport's failures mean to a user: every one becomes a
 * {@link BackendError} that names the operation, the endpoints and the cause (credentials are
 * never printed). "Lease not found" is kept as it is: the session turns it into its loss.
 * @module
 */
import { BackendError, ClosedError, ConfigError, OutcomeUnknownError } from '../../errors.js';
import type { EtcdOptions } from './config.js';
import { GrpcError, GrpcStatus, TransportError } from './transport/grpc.js';
import { isRetryable } from './transport/endpoints.js';
import { SchemeMismatchError } from './transport/scheme-probe.js';

/** Whether etcd reports that a lease does not exist (revoked or expired). */
export function isLeaseNotFound(error: unknown): boolean {
  return error instanceof GrpcError && /requested lease not found/.test(error.details);
}

/** Whether the failure is the cluster not answering (as opposed to refusing). */
export function isTransient(error: unknown): boolean {
  return isRetryable(error);
}

/** Turns a transport failure or an etcd refusal into a BackendError naming the operation and the endpoints. */
export function explain(error: unknown, what: string, options: EtcdOptions): unknown {
  if (error instanceof BackendError || error instanceof ClosedError) return error;
  if (isLeaseNotFound(error)) return error; // the session layer turns this into a session loss
  if (error instanceof SchemeMismatchError) return schemeMismatch(error, what);
  if (!(error instanceof GrpcError) && !(error instanceof TransportError)) {
    // The caller's own abort reason, or a bug: passed on unchanged.
    if (error instanceof Error && error.name !== 'Error') return error;
  }
  const where = `etcd at ${options.endpoints.join(',')}`;
  const message = String((error as Error)?.message ?? error);
  const user = options.auth ? `user "${options.auth.username}"` : undefined;
  if (error instanceof GrpcError) {
    if (/authentication failed|user name not found/.test(message)) {
      return new BackendError(`${what}: ${where} rejected ${user ?? 'the client'}: wrong user name or password (${message})`, { cause: error });
    }
    if (error.code === GrpcStatus.PERMISSION_DENIED || /permission denied/.test(message)) {
      const who = user ?? 'an unauthenticated client (give user:pass@ in the URL or auth in the config)';
      return new BackendError(`${what}: ${where} denied ${who} access to the keys (${message})`, { cause: error });
    }
    if (/user name is empty|auth.*not enabled|invalid auth token/i.test(message)) {
      return new BackendError(`${what}: ${where} requires authentication: give user:pass@ in the URL or auth in the config (${message})`, { cause: error });
    }
  }
  if (/ssl|tls|certificate|handshake|wrong version number|alpn/i.test(message) || /ssl|tls|cert/i.test(String((error as Error)?.cause ?? ''))) {
    return new BackendError(`${what}: TLS with ${where} failed (${message}); check etcd+https://, the CA and the client certificate`, { cause: error });
  }
  if (isRetryable(error)) {
    const hint = options.https ? '' : '; if the members serve TLS, use etcd+https://';
    return new BackendError(`${what}: ${where} is unreachable or has no leader (${message})${hint}`, { cause: error });
  }
  return new BackendError(`${what}: ${where} failed: ${message}`, { cause: error });
}

/** A TLS/plaintext mismatch: a configuration error, and what to write instead. */
function schemeMismatch(error: SchemeMismatchError, what: string): ConfigError {
  const fix = error.memberSpeaksTls
    ? 'use etcd+https:// (with ?ca=FILE for a private CA, and cert/key if the cluster asks for client certificates), or https:// endpoints or a tls field in the object form'
    : 'use etcd:// (or http:// endpoints and no tls field in the object form), or enable TLS on the cluster';
  const mismatch = error.memberSpeaksTls
    ? 'the member serves TLS, but the config asks for plaintext (etcd://)'
    : 'the member serves plaintext, but the config asks for TLS (etcd+https://)';
  return new ConfigError(`${what}: TLS/plaintext mismatch with etcd at ${error.endpoint}: ${mismatch}; ${fix}`, { cause: error });
}

/**
 * For a write applied at most once: an attempt that got no answer (or that etcd itself could not
 * settle: its proposal timed out, the leader changed) may or may not have been applied. Says so,
 * never guesses.
 */
export function explainWrite(error: unknown, what: string, options: EtcdOptions): unknown {
  const raw = error instanceof BackendError && !(error instanceof OutcomeUnknownError) ? error.cause : error;
  const unknown = (raw instanceof TransportError && raw.maybeApplied) || (raw instanceof GrpcError && /request timed out|leader changed/i.test(raw.details));
  if (!unknown) return error instanceof BackendError || error instanceof ClosedError ? error : explain(error, what, options);
  return new OutcomeUnknownError(
    `${what}: etcd at ${options.endpoints.join(',')} gave no answer (${(raw as Error).message}); the write may or may not have been applied`,
    { cause: raw },
  );
}
