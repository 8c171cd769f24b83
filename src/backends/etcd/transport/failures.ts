/**
 * What a failed call means: whether asking again (maybe another member) can help, whether a write
 * may have been applied, whether the auth token must be renewed.
 * @module
 */
import { GrpcError, GrpcStatus, TransportError } from './grpc.js';
import type { Member } from './member.js';

/**
 * Whether the connection failed in a way that asking again cannot fix: a TLS handshake refused
 * (certificates, TLS versions).
 */
export function isMisconfigured(error: unknown): boolean {
  if (!(error instanceof TransportError)) return false;
  const cause = error.cause as (Error & { code?: string }) | undefined;
  const text = `${cause?.code ?? ''} ${cause?.message ?? ''}`;
  return /ERR_SSL|SSL routines|certificate|ERR_TLS|wrong version number/i.test(text);
}

/** Whether a refusal from etcd means "ask again, maybe elsewhere": the member cannot serve now. */
export function isRetryable(error: unknown): boolean {
  if (error instanceof TransportError) return !isMisconfigured(error);
  if (!(error instanceof GrpcError)) return false;
  if (error.code === GrpcStatus.UNAVAILABLE) return true;
  return /no leader|leader changed|too many requests|not capable|stopped|request timed out/i.test(error.details);
}

/** Whether etcd refused the call's outcome as unknown to itself (its own timeout of a proposal). */
export function outcomeUnknown(error: unknown): boolean {
  if (error instanceof TransportError) return error.maybeApplied;
  return error instanceof GrpcError && /request timed out|leader changed/i.test(error.details);
}

export function isInvalidToken(error: unknown): boolean {
  return error instanceof GrpcError && /invalid auth token/i.test(error.details);
}

/** A transport failure with the reason its connection failed, when the connection said why. */
export function withConnectionError(error: unknown, member: Member): unknown {
  const cause = member.lastError;
  if (!(error instanceof TransportError) || !cause || error.cause === cause) return error;
  return new TransportError(`${cause.message} (${member.endpoint})`, member.endpoint, error.maybeApplied, error.timedOut, { cause });
}
