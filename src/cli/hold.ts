/**
 * `baton lock`, `baton semaphore` and `baton elect`: wait for the hold, run the program under
 * it, release it when the program exits, stop the program if the hold is lost.
 * @module
 */
import { hostname } from 'node:os';
import { type Coordinator, type Lease, LeaseLostError } from '../index.js';
import type { Invocation } from './args.js';
import { asCliError, backendUrl, checkName, connectSeconds, open } from './backend.js';
import { CliError } from './errors.js';
import { ExitCode, signalExitCode } from './exit-codes.js';
import { closeWithin, type Io, settleWithin } from './io.js';
import { Interrupted, SignalRelay, supervise } from './supervise.js';

/** What is held, for messages: `lock "x"`, `a permit of semaphore "x"`, `leadership of "x"`. */
function describeHold(invocation: Invocation): string {
  const name = JSON.stringify(invocation.name);
  if (invocation.command === 'semaphore') return `a permit of semaphore ${name}`;
  if (invocation.command === 'elect') return `leadership of election ${name}`;
  return `lock ${name}`;
}

class WaitTimedOut extends Error {}

/** How long baton waits for the release after the program ended. */
const RELEASE_MS = 5000;

export async function runHolding(invocation: Invocation, io: Io): Promise<number> {
  await checkName(invocation.name, invocation.command);
  const url = backendUrl(invocation.backend, invocation.ttl, io.env, invocation.command);
  const what = describeHold(invocation);
  const value = invocation.value ?? `${hostname()}:${process.pid}`;

  using relay = new SignalRelay();
  const deadline = new AbortController();
  // --timeout 0: take it only if it can be had without waiting, that is, give up when queued.
  const tryOnly = invocation.timeout === 0;
  let timer: NodeJS.Timeout | undefined;
  const waitSignal = AbortSignal.any([relay.signal, deadline.signal]);

  let coord: Coordinator | undefined;
  let lease: Lease;
  try {
    // A backend that does not answer is a backend error (69), not a busy lock (75): connecting
    // has its own bound, --timeout but at least MIN and at most DEFAULT seconds.
    coord = await open(url, relay.signal, invocation.command, connectSeconds(invocation.timeout));
    // --timeout counts the wait in line, from the moment baton is connected.
    if (invocation.timeout !== undefined && !tryOnly) {
      timer = setTimeout(() => deadline.abort(new WaitTimedOut()), invocation.timeout * 1000);
    }
    // Positions cost a waiter a look at every change ahead of it; without them a waiter is woken
    // only by the release of the one key before it. So ask only when they are used: to print
    // them (--verbose), or to learn that the hold is not free (--timeout 0).
    const onQueued = tryOnly
      ? () => deadline.abort(new WaitTimedOut())
      : invocation.verbose
        ? (position: number) => io.err(`queued for ${what} at position ${position} (${position} waiting ahead)`)
        : undefined;
    const options = { signal: waitSignal, onQueued };
    if (invocation.command === 'semaphore') {
      lease = await coord.semaphore(invocation.name, { permits: invocation.permits as number }).acquire(options);
    } else if (invocation.command === 'elect') {
      lease = await coord.election(invocation.name).campaign(value, options);
    } else {
      lease = await coord.mutex(invocation.name).acquire(options);
    }
  } catch (error) {
    clearTimeout(timer);
    if (coord) await closeWithin(() => (coord as Coordinator).close(), 5000);
    if (relay.signal.aborted) {
      const signal = (relay.signal.reason as Interrupted).signal;
      io.err(`interrupted by ${signal} while waiting for ${what}; the command was not run`);
      return signalExitCode(signal);
    }
    if (error instanceof CliError) throw error;
    if (deadline.signal.aborted) {
      io.err(
        tryOnly
          ? `${what} is taken or has waiters and --timeout is 0; the command was not run`
          : `timed out after ${invocation.timeout} s waiting for ${what}; the command was not run`,
      );
      return ExitCode.TIMEOUT;
    }
    throw asCliError(error, invocation.command);
  }
  clearTimeout(timer);
  if (relay.signal.aborted) {
    // Interrupted just as the hold was granted: do not start the program.
    const signal = (relay.signal.reason as Interrupted).signal;
    await settleWithin(lease.release(), RELEASE_MS, 'no answer').catch(() => {});
    await closeWithin(() => (coord as Coordinator).close(), 5000);
    io.err(`interrupted by ${signal} while waiting for ${what}; the command was not run`);
    return signalExitCode(signal);
  }
  if (invocation.verbose) io.err(`holding ${what} (token ${lease.token}, key ${lease.key})`);
  const { ttlMs, requestedTtlMs } = coord.health();
  if (ttlMs !== undefined && requestedTtlMs !== undefined) {
    io.err(`warning: the ${coord.backend} server granted a session TTL of ${ttlMs / 1000}s, not the ${requestedTtlMs / 1000}s asked for: the hold is lost after ${ttlMs / 1000}s without contact`);
  }

  const env: NodeJS.ProcessEnv = {
    ...io.env,
    BATON_NAME: invocation.name,
    BATON_KEY: lease.key,
    BATON_TOKEN: lease.token.toString(),
    ...(invocation.command === 'elect' ? { BATON_VALUE: value } : {}),
  };
  const program = invocation.program[0] as string;
  const outcome = await supervise({
    program: invocation.program,
    env,
    holdSignal: lease.signal,
    isLoss: (reason) => reason instanceof LeaseLostError,
    graceMs: invocation.grace * 1000,
    relay,
    report: (line) => io.err(line),
    onLost: (reason) => {
      const why = explainLoss(reason, invocation.name);
      io.err(
        `lost ${what} (token ${lease.token}, key ${lease.key}) while ${program} was running: ${why}; ` +
          `stopping ${program} (SIGTERM, then SIGKILL after ${invocation.grace} s)`,
      );
    },
  });

  try {
    // A backend that stopped answering must not keep baton from exiting with the program's code.
    await settleWithin(lease.release(), RELEASE_MS, `no answer within ${RELEASE_MS / 1000} s`);
    if (invocation.verbose && !outcome.lost) io.err(`released ${what}`);
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    io.err(`could not release ${what} (${why}); it ends when its session expires`);
  }
  await closeWithin(() => (coord as Coordinator).close(), 5000);
  if (outcome.lost) return ExitCode.LOST;
  return outcome.code;
}

/** Why a hold was lost, without repeating the name and key the message already gives. */
export function explainLoss(reason: unknown, name: string): string {
  if (!(reason instanceof Error)) return String(reason);
  // The library says "lost NAME (KEY): why" or "lost NAME: why"; keep the why.
  const prefix = new RegExp(`^lost ${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?: \\([^)]*\\))?: `);
  let why = reason.message.replace(prefix, '');
  const cause = (reason as { cause?: unknown }).cause;
  if (cause instanceof Error && cause.message && !why.includes(cause.message)) why += ` (${cause.message})`;
  return why;
}

