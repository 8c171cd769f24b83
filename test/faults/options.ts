/**
 * The fault runner's command line: what `npm run test:faults -- <options>` accepts, its usage
 * text, and the parsing into a plan (which scenario runs on which backend, with what options).
 * Kept apart from run.ts so that it can be tested without starting a cluster.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { BACKENDS, type BackendName } from './clusters.js';
import type { RunOptions } from './run-scenario.js';
import { SCENARIOS } from './scenarios.js';

/** A command line the runner cannot act on; the message says why. */
export class UsageError extends Error {}

export type Plan =
  | { kind: 'help' }
  | { kind: 'list' }
  | {
      kind: 'run';
      backends: BackendName[];
      /** Whether scenario `name` runs on `backend`. */
      runs(name: string, backend: BackendName): boolean;
      options: RunOptions;
    };

const OPTIONS = {
  help: { type: 'boolean', short: 'h', default: false },
  list: { type: 'boolean', default: false },
  short: { type: 'boolean', default: false },
  soak: { type: 'boolean', default: false },
  duration: { type: 'string' },
  tail: { type: 'string' },
  clients: { type: 'string', default: '5' },
  ttl: { type: 'string', default: '2' },
  timeout: { type: 'string', default: '3000' },
  backend: { type: 'string' },
  scenario: { type: 'string' },
  exclude: { type: 'string' },
  keep: { type: 'boolean', default: false },
  history: { type: 'string', default: '.tmp/faults' },
} as const;

/** The usage text `--help` prints: options, scenarios and the backends each runs on. */
export function usage(): string {
  const scenarios = SCENARIOS.map((s) => `  ${s.name.padEnd(22)} ${(s.backends ?? BACKENDS).join(', ')}`);
  return `Usage: npm run test:faults -- [options]
Runs fault scenarios against real clusters, checks each history, exits 1 when any run fails.

Options:
  --short               CI length: 3 s of faults (one round of each nemesis) and a 4 s tail per run
  --soak                long runs: 5 min of faults per run
  --duration S          seconds of faults per run (default 25)
  --tail S              seconds of quiet tail per run (default 6; 4 with --short)
  --clients N           client processes (default 5)
  --ttl S               session TTL in seconds (etcd, PostgreSQL, Redis ttl; ZooKeeper sessionTimeout; default 2)
  --timeout MS          timeoutMs of every acquire (default 3000)
  --backend a,b         backends to run on (default all)
  --scenario a,b@etcd   scenarios to run, everywhere (name) or on one backend (name@backend); default all
  --exclude a,b@etcd    scenarios to leave out, everywhere (name) or on one backend (name@backend)
  --keep                keep the histories of passing runs too (failing ones are always kept)
  --history DIR         where histories go (default .tmp/faults)
  --list                print the scenarios with what each shows, and exit
  -h, --help            print this text and exit

Backends: ${BACKENDS.join(', ')}

Scenarios (and the backends each runs on):
${scenarios.join('\n')}

Examples:
  npm run test:faults -- --short --scenario client-pause@postgres,outage@zookeeper
  node test/faults/check.mjs .tmp/faults/<scenario>-<backend>-<time>   # check a saved history again
`;
}

/** Parses the runner's arguments (without node and the script); throws a UsageError on bad input. */
export function parseFaultArgs(argv: readonly string[]): Plan {
  let values;
  try {
    ({ values } = parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: false }));
  } catch (error) {
    // node:util's messages name the option ("Unknown option '--x'"); the stack says nothing more.
    throw new UsageError((error as Error).message);
  }
  if (values.help) return { kind: 'help' };
  if (values.list) return { kind: 'list' };

  const scenarioNames = SCENARIOS.map((s) => s.name);
  const pairNames = SCENARIOS.flatMap((s) => (s.backends ?? BACKENDS).map((b) => `${s.name}@${b}`));
  const chosen = new Set(names('scenario', values.scenario, [...scenarioNames, ...pairNames]) ?? scenarioNames);
  const excluded = new Set(names('exclude', values.exclude, [...scenarioNames, ...pairNames]) ?? []);
  const faultSeconds = values.soak ? 300 : values.short ? 3 : 25;
  return {
    kind: 'run',
    backends: names('backend', values.backend, BACKENDS) ?? [...BACKENDS],
    runs: (name, backend) =>
      (chosen.has(name) || chosen.has(`${name}@${backend}`)) && !excluded.has(name) && !excluded.has(`${name}@${backend}`),
    options: {
      clients: Math.round(positive('clients', values.clients, 5)),
      ttlMs: Math.round(positive('ttl', values.ttl, 2) * 1000),
      timeoutMs: Math.round(positive('timeout', values.timeout, 3000)),
      faultMs: positive('duration', values.duration, faultSeconds) * 1000,
      tailMs: positive('tail', values.tail, values.short ? 4 : 6) * 1000,
      workMs: 100,
      holdMs: 50,
      historyRoot: resolve(values.history),
      keepPassing: values.keep,
    },
  };
}

function positive(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new UsageError(`--${name} ${text}: expected a positive number`);
  return value;
}

function names<T extends string>(option: string, text: string | undefined, known: readonly T[]): T[] | undefined {
  if (text === undefined) return undefined;
  const wanted = text.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = wanted.filter((w) => !known.includes(w as T));
  if (unknown.length) throw new UsageError(`--${option}: unknown ${unknown.join(', ')}; known: ${known.join(', ')}`);
  return wanted as T[];
}
