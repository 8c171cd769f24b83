/**
 * The command's top level: parse, dispatch, and turn every failure into one line and an exit code.
 * @module
 */
import { createRequire } from 'node:module';
import { HOLDING_COMMANDS, parseArgs } from './args.js';
import { asCliError } from './backend.js';
import { CliError } from './errors.js';
import { runDashboard } from './dashboard.js';
import { runHolding } from './hold.js';
import type { Io } from './io.js';
import { runRead } from './read.js';
import { helpText } from './usage.js';

function version(): string {
  const require = createRequire(import.meta.url);
  return (require('../../package.json') as { version: string }).version;
}

/** Runs `baton ARGS...` and resolves to the exit code. Never throws. */
export async function run(argv: readonly string[], io: Io): Promise<number> {
  let command = '';
  try {
    const parsed = parseArgs(argv);
    if (parsed.kind === 'help') {
      io.out(helpText(parsed.command));
      return 0;
    }
    if (parsed.kind === 'version') {
      io.out(`baton ${version()}\n`);
      return 0;
    }
    const { invocation } = parsed;
    command = invocation.command;
    if (invocation.command === 'dashboard') return await runDashboard(invocation, io);
    return HOLDING_COMMANDS.includes(invocation.command) ? await runHolding(invocation, io) : await runRead(invocation, io);
  } catch (caught) {
    const error = caught instanceof CliError ? caught : asCliError(caught, command);
    io.err(error.message.replace(/\s*\n\s*/g, ' '));
    if (error.helpFor !== undefined) io.err(`run 'baton ${error.helpFor ? `${error.helpFor} ` : ''}--help' for usage`);
    return error.exitCode;
  }
}
