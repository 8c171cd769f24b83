#!/usr/bin/env node
/**
 * The `baton` command. See `baton --help` and docs/cli.md.
 * @module
 */
import { processIo } from './io.js';
import { run } from './run.js';

const code = await run(process.argv.slice(2), processIo);
// Let pending output reach pipes before exiting; backend clients may hold the loop open.
process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
