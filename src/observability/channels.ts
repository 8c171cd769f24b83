/**
 * `node:diagnostics_channel` publication. Subscribers (APM agents, tests, your own code) see
 * every acquire as a TracingChannel and every hold and session event as a message, with no cost
 * when nobody subscribes: each publication first tests the channel's `hasSubscribers`, and the
 * message is only built after that test. A hold's release or loss is published when some hold
 * channel (granted, released, lost) or the acquire tracing had a subscriber at its acquire: an
 * acquire made with no subscriber, no debug log and no meter provider is not followed at all.
 *
 * | channel | message |
 * | --- | --- |
 * | `tracing:baton:acquire:{start,end,asyncStart,asyncEnd,error}` | {@link AcquireContext} (+ `result` = the Lease, or `error`) |
 * | `baton:lease:granted` | {@link LeaseMessage} |
 * | `baton:lease:released` | {@link LeaseMessage} |
 * | `baton:lease:lost` | {@link LeaseMessage} with `cause` and `error` |
 * | `baton:session:opened` | {@link SessionMessage} |
 * | `baton:session:renewed` | {@link SessionMessage} with `latencyMs` |
 * | `baton:session:lost` | {@link SessionMessage} with `error` |
 * | `baton:backend:reconnect` | {@link ReconnectMessage} |
 * @module
 */
import { type Channel, channel, tracingChannel } from 'node:diagnostics_channel';
import type { BackendKind } from '../backends/contract.js';

/** The recipe a hold or acquire belongs to. */
export type RecipeKind = 'mutex' | 'semaphore' | 'read-lock' | 'write-lock' | 'election';

/** Why a hold was lost: its session ended, its key was deleted by someone else, or its watch failed. */
export type LossCause = 'session-lost' | 'key-deleted' | 'watch-failed';

/** The names of Baton's channels. */
export const CHANNELS = {
  acquire: 'baton:acquire',
  granted: 'baton:lease:granted',
  released: 'baton:lease:released',
  lost: 'baton:lease:lost',
  sessionOpened: 'baton:session:opened',
  sessionRenewed: 'baton:session:renewed',
  sessionLost: 'baton:session:lost',
  reconnect: 'baton:backend:reconnect',
} as const;

/** The context object of the `baton:acquire` TracingChannel. */
export interface AcquireContext {
  readonly backend: BackendKind;
  readonly recipe: RecipeKind;
  readonly name: string;
  /** Set by the channel at `asyncEnd`: the granted Lease. */
  result?: unknown;
  /** Set by the channel at `error`: what the acquire rejected with. */
  error?: unknown;
}

/** A hold's event. */
export interface LeaseMessage {
  readonly backend: BackendKind;
  readonly recipe: RecipeKind;
  readonly name: string;
  readonly key: string;
  readonly token: bigint;
  /** For `granted`: how long the acquire waited; for `released`/`lost`: how long it was held. */
  readonly durationMs: number;
  /** For `lost` only. */
  readonly cause?: LossCause;
  /** For `lost` only: the LeaseLostError the hold's signal aborted with. */
  readonly error?: unknown;
}

/** A session's event. */
export interface SessionMessage {
  readonly backend: BackendKind;
  /** The backend's id of the session (etcd lease id in hex, ZooKeeper session id). */
  readonly id: string;
  /** For `renewed`: the keepalive's round trip. */
  readonly latencyMs?: number;
  /** For `lost`: the SessionLostError. */
  readonly error?: unknown;
}

/** A backend connection that was re-established (another endpoint, or the same after a cut). */
export interface ReconnectMessage {
  readonly backend: BackendKind;
  /** The endpoint now in use, when the backend knows it. */
  readonly endpoint?: string;
  /** How long the backend was out of contact, when known. */
  readonly outageMs?: number;
}

export const acquireChannel = tracingChannel<AcquireContext, AcquireContext>(CHANNELS.acquire);
export const grantedChannel = channel(CHANNELS.granted);
export const releasedChannel = channel(CHANNELS.released);
export const lostChannel = channel(CHANNELS.lost);
export const sessionOpenedChannel = channel(CHANNELS.sessionOpened);
export const sessionRenewedChannel = channel(CHANNELS.sessionRenewed);
export const sessionLostChannel = channel(CHANNELS.sessionLost);
export const reconnectChannel = channel(CHANNELS.reconnect);

/** Publishes `message()` on `channel` if anyone listens; the message is built only then. */
export function publish<T>(target: Channel, message: () => T): void {
  if (target.hasSubscribers) target.publish(message());
}
