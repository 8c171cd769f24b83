#!/usr/bin/env node
/**
 * Checks a saved history again: `node test/faults/check.mjs <history dir> [--json]`.
 * Exits 0 when the run passes (for a negative control: when a violation is found), 1 otherwise.
 */
import './ts-hooks.mjs';

const args = process.argv.slice(2);
const dir = args.find((a) => !a.startsWith('--'));
if (!dir) {
  console.error('usage: node test/faults/check.mjs <history dir> [--json]');
  process.exit(2);
}
const { loadHistory } = await import('./history.ts');
const { checkHistory, formatReport } = await import('./checker.ts');
const report = checkHistory(loadHistory(dir));
console.log(args.includes('--json') ? JSON.stringify(report, null, 2) : formatReport(report));
process.exit(report.ok ? 0 : 1);
