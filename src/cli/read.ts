/**
 * The read commands: `baton leader`, `baton observe`, `baton status`. They write nothing: no key,
 * no session (on PostgreSQL the coordinator is read only, which also leaves the schema alone).
 * @module
 */
import { ContactLostError, type Coordinator, type QueueStatus } from '../index.js';
import type { Invocation } from './args.js';
import { asCliError, backendUrl, checkName, open, readOnlyUrl } from './backend.js';
import { ExitCode, signalExitCode } from './exit-codes.js';
import { doubleBarrierJson, doubleBarrierText, leaderJson, leaderLine, type QueueKind, type StatusReport, statusJson, statusText } from './format.js';
import { closeWithin, type Io } from './io.js';
import { type Interrupted, SignalRelay } from './supervise.js';

export async function runRead(invocation: Invocation, io: Io): Promise<number> {
  await checkName(invocation.name, invocation.command);
  const url = readOnlyUrl(backendUrl(invocation.backend, undefined, io.env, invocation.command));
  using relay = new SignalRelay();
  let coord: Coordinator | undefined;
  try {
    coord = await open(url, relay.signal, invocation.command);
    if (invocation.command === 'observe') await observe(coord, invocation, io, relay.signal);
    else await untilAborted(invocation.command === 'leader' ? leader(coord, invocation, io) : status(coord, invocation, io), relay.signal);
    return ExitCode.OK;
  } catch (error) {
    // Interrupting is how `observe` is meant to end; `leader` and `status` report the signal.
    if (relay.signal.aborted) {
      const signal = (relay.signal.reason as Interrupted).signal;
      return invocation.command === 'observe' ? ExitCode.OK : signalExitCode(signal);
    }
    throw asCliError(error, invocation.command);
  } finally {
    if (coord) await closeWithin(() => (coord as Coordinator).close(), 5000);
  }
}

async function leader(coord: Coordinator, invocation: Invocation, io: Io): Promise<void> {
  const current = await coord.election(invocation.name).leader();
  io.out(invocation.json ? `${JSON.stringify(leaderJson(current))}\n` : `${leaderLine(invocation.name, current)}\n`);
}

/**
 * Prints the leader and every change. When the backend stops answering it prints a `contact lost`
 * line (the leader may change unseen meanwhile) and observes again, which prints the leader as
 * soon as the backend answers.
 */
async function observe(coord: Coordinator, invocation: Invocation, io: Io, signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    try {
      for await (const current of coord.election(invocation.name).observe({ signal })) {
        const time = new Date().toISOString();
        io.out(
          invocation.json
            ? `${JSON.stringify({ time, leader: leaderJson(current) })}\n`
            : `${time} ${leaderLine(invocation.name, current)}\n`,
        );
      }
      return;
    } catch (error) {
      if (!(error instanceof ContactLostError)) throw error;
      const time = new Date().toISOString();
      io.out(invocation.json ? `${JSON.stringify({ time, contact: 'lost', error: error.message })}\n` : `${time} contact lost: ${error.message}\n`);
    }
  }
}

/**
 * Reads the queue and tells which recipe it belongs to from its keys. A double barrier's members
 * queue apart (`.baton/NAME/.members`): they are looked for when no queue of the name has keys.
 */
async function status(coord: Coordinator, invocation: Invocation, io: Io): Promise<void> {
  const report = await queueReport(coord, invocation);
  if (report.kind === 'unused' && invocation.permits === undefined) {
    const barrier = await coord.doubleBarrier(invocation.name, { members: 1 }).status();
    if (barrier.ready || barrier.members.length > 0) {
      const found = { kind: 'double barrier', barrier, now: Date.now() } as const;
      io.out(invocation.json ? `${JSON.stringify(doubleBarrierJson(found))}\n` : doubleBarrierText(found));
      return;
    }
  }
  io.out(invocation.json ? `${JSON.stringify(statusJson(report))}\n` : statusText(report));
}

async function queueReport(coord: Coordinator, invocation: Invocation): Promise<StatusReport> {
  const { name, permits } = invocation;
  let kind: QueueKind;
  let snapshot: QueueStatus;
  if (permits !== undefined) {
    kind = 'semaphore';
    snapshot = await coord.semaphore(name, { permits }).status();
  } else {
    snapshot = await coord.mutex(name).status();
    const members = [...snapshot.holders, ...snapshot.waiters];
    if (members.some((m) => m.role === 'read' || m.role === 'write')) {
      kind = 'read-write lock';
      snapshot = await coord.readWriteLock(name).status();
    } else if (members.some((m) => m.role === 'latch' || m.value !== '')) {
      kind = 'election';
    } else {
      kind = 'lock';
      if (members.length === 0) {
        // No keys directly under the name: maybe a semaphore's (NAME/locks, NAME/leases).
        const asSemaphore = await coord.semaphore(name, { permits: 1_000_000 }).status();
        if (asSemaphore.holders.length + asSemaphore.waiters.length > 0) {
          kind = 'semaphore';
          snapshot = asSemaphore;
        } else {
          kind = 'unused';
        }
      }
    }
  }
  return { kind, status: snapshot, permits, now: Date.now() };
}

/** `work`, unless `signal` aborts first (then its reason): a signal must end a read that hangs. */
async function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  let onAbort: (() => void) | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        onAbort = () => reject(signal.reason);
        if (signal.aborted) onAbort();
        else signal.addEventListener('abort', onAbort, { once: true });
      }),
    ]);
  } finally {
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
}

