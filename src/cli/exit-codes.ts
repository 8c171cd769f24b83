/**
 * The exit codes of the `baton` command. A command run under a hold passes its own exit code
 * through (a death by signal N as 128+N), so baton's own codes sit where commands rarely exit:
 * the BSD sysexits range, as tools like `sendmail` and `flock -E` use it.
 * @module
 */
import { constants } from 'node:os';

export const ExitCode = {
  /** Success; for a command run under a hold, the command's own exit code is used instead. */
  OK: 0,
  /** Bad arguments or configuration (EX_USAGE). Nothing was started. */
  USAGE: 64,
  /** The backend could not be reached, refused a request, or its session was lost before the hold (EX_UNAVAILABLE). */
  BACKEND: 69,
  /** `--timeout` passed before the lock, permit or leadership was granted (EX_TEMPFAIL). The command did not run. */
  TIMEOUT: 75,
  /** The hold was lost while the command ran (session expired or revoked, key deleted); the command was stopped. */
  LOST: 76,
  /** The command was found but could not be executed (as in shells). */
  NOT_EXECUTABLE: 126,
  /** The command was not found (as in shells). */
  NOT_FOUND: 127,
} as const;

/** 128 + the signal's number, as shells report a death by signal. */
export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (constants.signals[signal] ?? 0);
}
