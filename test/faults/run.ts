/**
 * The fault suite: `npm run test:faults [-- options]`. Runs every scenario on every backend
 * against real clusters, checks each history, prints a report per run and a summary, and exits
 * non-zero when a run fails (a violation, or a negative control that found none). The options are
 * in ./options.ts (`--help` prints them, with the scenarios and backends); a bad command line
 * exits 2 with the reason.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatReport, type Report } from './checker.js';
import { BACKENDS, type BackendName, type Cluster, startCluster } from './clusters.js';
import { parseFaultArgs, type Plan, usage, UsageError } from './options.js';
import { describeMachine, runScenario } from './run-scenario.js';
import { SCENARIOS } from './scenarios.js';

let plan: Plan;
try {
  plan = parseFaultArgs(process.argv.slice(2));
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  console.error(`test:faults: ${error.message}
(npm run test:faults -- --help lists the options, scenarios and backends)`);
  process.exit(2);
}
if (plan.kind === 'help') {
  console.log(usage());
  process.exit(0);
}
if (plan.kind === 'list') {
  for (const s of SCENARIOS) console.log(`${s.name.padEnd(22)} ${(s.backends ?? BACKENDS).join('+').padEnd(15)} ${s.shows}`);
  process.exit(0);
}
const { backends, runs, options } = plan;

/**
 * `cluster` once it serves again, or a fresh one. A cluster that does not serve again within its
 * bound after the previous scenario (seen once in a CI rehearsal: a ZooKeeper ensemble after
 * leader-kill, whose checks had all passed, clients acquiring again) failed in the servers' own
 * recovery, not in the scenario about to run: that scenario runs on a fresh cluster, and the log
 * says so.
 */
async function healthyCluster(cluster: Cluster, backend: BackendName): Promise<Cluster> {
  try {
    await cluster.waitHealthy();
    return cluster;
  } catch (error) {
    console.log(`\nNOTE the ${backend} cluster left by the previous scenario did not serve again (${(error as Error).message}): a fresh one is started`);
    await cluster.stop().catch(() => {});
    const fresh = await startCluster(backend);
    if (!fresh) throw new Error(`no ${backend} cluster could be started again`);
    await fresh.waitHealthy();
    return fresh;
  }
}

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
      cluster = await healthyCluster(cluster, backend);
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
