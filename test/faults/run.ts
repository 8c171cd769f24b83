/**
 * The fault suite: `npm run test:faults [-- options]`. Runs every scenario on every backend
 * against real clusters, checks each history, prints a report per run and a summary, and exits
 * non-zero when a run fails (a violation, or a negative control that found none).
 *
 *   --short              CI length: 3 s of faults (one round of each nemesis) and a 4 s tail per run
 *   --soak               long runs: 5 min of faults per run
 *   --duration S         seconds of faults per run (default 25)
 *   --tail S             seconds of quiet tail per run (default 6)
 *   --clients N          client processes (default 5)
 *   --ttl S              session TTL in seconds (etcd, PostgreSQL, Redis ttl; ZooKeeper sessionTimeout; default 2)
 *   --timeout MS         timeoutMs of every acquire (default 3000)
 *   --backend a,b        etcd, zookeeper, postgres, redis (default all)
 *   --scenario a,b@etcd  scenarios to run, everywhere (name) or on one backend (name@backend); default all
 *   --exclude a,b@etcd   leaves scenarios out, everywhere (name) or on one backend (name@backend)
 *   --keep               keep the histories of passing runs too (failing ones are always kept)
 *   --history DIR        where histories go (default .tmp/faults)
 *   --list               print the scenarios and exit
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { formatReport, type Report } from './checker.js';
import { BACKENDS, type BackendName, type Cluster, startCluster } from './clusters.js';
import { describeMachine, type RunOptions, runScenario } from './run-scenario.js';
import { SCENARIOS } from './scenarios.js';

const { values } = parseArgs({
  options: {
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
    list: { type: 'boolean', default: false },
  },
});

function positive(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} ${text}: expected a positive number`);
  return value;
}

function names<T extends string>(option: string, text: string | undefined, known: readonly T[]): T[] | undefined {
  if (text === undefined) return undefined;
  const wanted = text.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = wanted.filter((w) => !known.includes(w as T));
  if (unknown.length) throw new Error(`--${option}: unknown ${unknown.join(', ')}; known: ${known.join(', ')}`);
  return wanted as T[];
}

if (values.list) {
  for (const s of SCENARIOS) console.log(`${s.name.padEnd(22)} ${(s.backends ?? BACKENDS).join('+').padEnd(15)} ${s.shows}`);
  process.exit(0);
}

const scenarioNames = SCENARIOS.map((s) => s.name);
const pairNames = SCENARIOS.flatMap((s) => (s.backends ?? BACKENDS).map((b) => `${s.name}@${b}`));
const chosen = new Set(names('scenario', values.scenario, [...scenarioNames, ...pairNames]) ?? scenarioNames);
const excluded = new Set(names('exclude', values.exclude, [...scenarioNames, ...pairNames]) ?? []);
const runs = (name: string, backend: BackendName) =>
  (chosen.has(name) || chosen.has(`${name}@${backend}`)) && !excluded.has(name) && !excluded.has(`${name}@${backend}`);
const backends = names('backend', values.backend, BACKENDS) ?? [...BACKENDS];
const faultSeconds = values.soak ? 300 : values.short ? 3 : 25;
const options: RunOptions = {
  clients: Math.round(positive('clients', values.clients, 5)),
  ttlMs: Math.round(positive('ttl', values.ttl, 2) * 1000),
  timeoutMs: Math.round(positive('timeout', values.timeout, 3000)),
  faultMs: positive('duration', values.duration, faultSeconds) * 1000,
  tailMs: positive('tail', values.tail, values.short ? 4 : 6) * 1000,
  workMs: 100,
  holdMs: 50,
  historyRoot: resolve(values.history),
  keepPassing: values.keep,
};

const results: Array<{ scenario: string; backend: BackendName; ok: boolean; failed: string[]; report?: Report; dir?: string; error?: string }> = [];
const skipped: string[] = [];
for (const backend of backends) {
  const scenarios = SCENARIOS.filter((s) => (s.backends ?? BACKENDS).includes(backend) && runs(s.name, backend));
  if (scenarios.length === 0) continue;
  let cluster: Cluster | undefined;
  for (const scenario of scenarios) {
    try {
      cluster ??= await startCluster(backend);
      if (!cluster) {
        skipped.push(`${scenario.name} on ${backend}`);
        continue;
      }
      await cluster.waitHealthy();
      console.log(`\n=== ${scenario.name} on ${backend}: ${scenario.shows}`);
      const began = Date.now();
      const { report, dir } = await runScenario(cluster, scenario, options);
      console.log(`${formatReport(report)}\n  (run took ${((Date.now() - began) / 1000).toFixed(1)} s)`);
      if (!report.ok) console.log(`  history kept in ${dir} (re-check: node test/faults/check.mjs ${dir})`);
      results.push({ scenario: scenario.name, backend, ok: report.ok, failed: report.checks.filter((c) => !c.ok).map((c) => c.name), report, dir: report.ok ? undefined : dir });
    } catch (error) {
      console.log(`FAIL ${scenario.name} on ${backend}: the run itself failed: ${(error as Error).stack ?? error}`);
      results.push({ scenario: scenario.name, backend, ok: false, failed: ['run'], error: String(error) });
      // A fresh cluster for the next scenario: this one may be left in any state.
      await cluster?.stop().catch(() => {});
      cluster = undefined;
    }
  }
  await cluster?.stop();
}

console.log('\n=== summary');
for (const r of results) {
  const note = r.report?.expectViolation ? ` (negative control: violation ${r.report.violated ? 'found' : 'NOT found'}: ${r.failed.join(', ') || '-'})` : r.failed.length ? ` (${r.failed.join(', ')})` : '';
  console.log(`${r.ok ? 'PASS' : 'FAIL'} ${r.scenario.padEnd(22)} ${r.backend.padEnd(10)}${note}`);
}
mkdirSync(options.historyRoot, { recursive: true });
const summaryFile = join(options.historyRoot, `summary-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(summaryFile, `${JSON.stringify({ options, results }, (_, v) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`);
writeFileSync(summaryFile.replace(/\.json$/, '.md'), markdownTable());
console.log(`summary written to ${summaryFile} (and .md, the table docs/reliability.md shows)`);
if (skipped.length) console.log(`SKIPPED (servers not installed): ${skipped.join(', ')}`);
const failures = results.filter((r) => !r.ok).length;
console.log(failures ? `${failures} of ${results.length} runs failed` : `all ${results.length} runs passed`);
process.exit(failures ? 1 : 0);

/** One row per run: the figures docs/reliability.md reports. */
function markdownTable(): string {
  const rows = [
    `Run of ${new Date().toISOString()}: ${options.clients} clients, TTL ${options.ttlMs / 1000} s, timeoutMs ${options.timeoutMs}, ${options.faultMs / 1000} s of faults + ${options.tailMs / 1000} s tail per run; ${describeMachine()}`,
    '',
    '| scenario | backend | result | acquisitions | failed acquires | violated checks | loss latency ms | longest grant gap ms | recovery after heal ms | max acquire overrun ms |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of results) {
    const f = r.report?.figures;
    const failedAcquires = f ? Object.entries(f.failedAcquires).map(([k, v]) => `${v} ${k}`).join(', ') || '0' : '-';
    const result = r.report?.expectViolation ? (r.ok ? 'PASS (violation found, as it must)' : 'FAIL (no violation found)') : r.ok ? 'PASS' : 'FAIL';
    rows.push(
      `| ${r.scenario} | ${r.backend} | ${result} | ${f?.acquisitions ?? '-'} | ${failedAcquires} | ${r.failed.join(', ') || '-'} | ${f?.lossLatencyMs.join(', ') || '-'} | ${f?.longestGrantGapMs ?? '-'} | ${f?.recoveryAfterHealMs ?? '-'} | ${f?.maxAcquireOverrunMs ?? '-'} |`,
    );
  }
  return `${rows.join('\n')}\n`;
}
