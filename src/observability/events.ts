/**
 * The one place recipes and adapters report to: each report fans out to the diagnostics
 * channels, the OpenTelemetry instruments and the `NODE_DEBUG=baton` log, and costs a few
 * boolean tests when none of them is in use.
 * @module
 */
import type { BackendKind } from '../backends/contract.js';
import { LeaseLostError, SessionLostError } from '../errors.js';
import {
  type AcquireContext,
  acquireChannel,
  grantedChannel,
  type LeaseMessage,
  type LossCause,
  lostChannel,
  publish,
  type RecipeKind,
  reconnectChannel,
  releasedChannel,
  sessionLostChannel,
  sessionOpenedChannel,
  sessionRenewedChannel,
} from './channels.js';
import { debug, debugEnabled } from './debug.js';
import { type AcquireOutcome, metricsActive, recipeMeter, recordKeepalive } from './metrics.js';

/** What every hold has. */
interface Held {
  readonly key: string;
  readonly token: bigint;
  readonly signal: AbortSignal;
}

function tracingActive(): boolean {
  const c = acquireChannel;
  return c.start.hasSubscribers || c.end.hasSubscribers || c.asyncStart.hasSubscribers || c.asyncEnd.hasSubscribers || c.error.hasSubscribers;
}

/** Whether anyone listens for grants, releases or losses (a hold is followed only then). */
function holdsWatched(): boolean {
  return grantedChannel.hasSubscribers || releasedChannel.hasSubscribers || lostChannel.hasSubscribers;
}

function outcomeOf(error: unknown): AcquireOutcome {
  const name = (error as { name?: unknown } | null)?.name;
  if (name === 'TimeoutError') return 'timeout';
  if (name === 'AbortError') return 'aborted';
  return 'error';
}

/** Why a hold was lost, from the reason its signal aborted with. */
export function lossCause(reason: unknown): LossCause {
  const cause = (reason as { cause?: unknown } | null)?.cause;
  if (cause instanceof SessionLostError || reason instanceof SessionLostError) return 'session-lost';
  if (reason instanceof Error && /deleted/.test(reason.message)) return 'key-deleted';
  if (reason instanceof Error && /session/.test(reason.message)) return 'session-lost';
  return 'watch-failed';
}

/**
 * Runs one acquire (`acquire` resolves to the hold, or undefined when a try found it taken)
 * inside the `baton:acquire` TracingChannel, with its wait measured, and follows the hold it
 * grants until it is released or lost.
 */
export function observeAcquire<T extends Held | undefined>(
  backend: BackendKind,
  recipe: RecipeKind,
  name: string,
  acquire: () => Promise<T>,
): Promise<T> {
  const tracing = tracingActive();
  // Nobody listening: the acquire runs bare (no meter, no closure, no listener on its hold).
  if (!tracing && !debugEnabled && !holdsWatched() && !metricsActive()) return acquire();
  const meter = recipeMeter(backend, recipe, name);
  const started = performance.now();
  meter.waitStarted();
  debug('%s %s %j: acquire', backend, recipe, name);
  // Promise callbacks rather than an async function: a suspended async frame would cost every
  // waiting acquire far more heap than these two closures.
  const measured = (): Promise<T> =>
    acquire().then(
      (held) => {
        const waitedMs = performance.now() - started;
        if (held === undefined) {
          meter.waitEnded('timeout', waitedMs);
          debug('%s %s %j: taken, not acquired', backend, recipe, name);
          return held;
        }
        meter.waitEnded('acquired', waitedMs);
        follow(backend, recipe, name, held, waitedMs, meter.holdEnded);
        return held;
      },
      (error: unknown) => {
        meter.waitEnded(outcomeOf(error), performance.now() - started);
        debug('%s %s %j: acquire failed: %s', backend, recipe, name, (error as Error)?.message ?? error);
        throw error;
      },
    );
  if (!tracing) return measured();
  const context: AcquireContext = { backend, recipe, name };
  return acquireChannel.tracePromise(measured, context);
}

/** Publishes the grant, and the release or loss when the hold's signal aborts. */
function follow(
  backend: BackendKind,
  recipe: RecipeKind,
  name: string,
  held: Held,
  waitedMs: number,
  holdEnded: (heldMs: number, cause: LossCause | undefined) => void,
): void {
  const message = (durationMs: number, extra?: Partial<LeaseMessage>): LeaseMessage => ({
    backend,
    recipe,
    name,
    key: held.key,
    token: held.token,
    durationMs,
    ...extra,
  });
  publish(grantedChannel, () => message(waitedMs));
  debug('%s %s %j: granted %s token %s after %d ms', backend, recipe, name, held.key, String(held.token), Math.round(waitedMs));
  const grantedAt = performance.now();
  const onEnd = () => {
    const heldMs = performance.now() - grantedAt;
    const reason: unknown = held.signal.reason;
    if (reason instanceof LeaseLostError) {
      const cause = lossCause(reason);
      holdEnded(heldMs, cause);
      publish(lostChannel, () => message(heldMs, { cause, error: reason }));
      debug('%s %s %j: lost %s (%s): %s', backend, recipe, name, held.key, cause, reason.message);
    } else {
      holdEnded(heldMs, undefined);
      publish(releasedChannel, () => message(heldMs));
      debug('%s %s %j: released %s after %d ms', backend, recipe, name, held.key, Math.round(heldMs));
    }
  };
  if (held.signal.aborted) onEnd();
  else held.signal.addEventListener('abort', onEnd, { once: true });
}

/** A session was opened. */
export function sessionOpened(backend: BackendKind, id: string): void {
  publish(sessionOpenedChannel, () => ({ backend, id }));
  debug('%s: session %s opened', backend, id);
}

/** A session's keepalive was answered after `latencyMs`. */
export function sessionRenewed(backend: BackendKind, id: string, latencyMs: number): void {
  recordKeepalive(backend, latencyMs);
  publish(sessionRenewedChannel, () => ({ backend, id, latencyMs }));
  debug('%s: session %s renewed in %d ms', backend, id, Math.round(latencyMs));
}

/** A session was lost. */
export function sessionLost(backend: BackendKind, id: string, error: unknown): void {
  publish(sessionLostChannel, () => ({ backend, id, error }));
  debug('%s: session %s lost: %s', backend, id, (error as Error)?.message ?? error);
}

/** The backend connection was re-established. */
export function backendReconnected(backend: BackendKind, detail: { endpoint?: string; outageMs?: number } = {}): void {
  publish(reconnectChannel, () => ({ backend, ...detail }));
  debug('%s: reconnected%s', backend, detail.endpoint ? ` to ${detail.endpoint}` : '');
}
