/**
 * Errors the command reports itself: a one-line reason, a usage hint when the arguments were at
 * fault, and the exit code.
 * @module
 */
import { ExitCode } from './exit-codes.js';

/** A failure the command reports with one line and an exit code, never a stack trace. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    /** The subcommand whose help the hint points at; undefined for no hint. */
    readonly helpFor?: string,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** A bad argument: one-line reason, then a hint pointing at the help of `command`. */
export function usageError(message: string, command: string | undefined): CliError {
  return new CliError(message, ExitCode.USAGE, command ?? '');
}
