// Many waiters on one mutex: W contenders queue behind one holder, every one (or none) asking for
// its position with onQueued, all started at once; then each is served in turn. Checks that all
// are served in FIFO (token) order and that every position report was right when made; measures the time to serve
// them all with and without onQueued, and the heap per waiting contender. Also W waiters spread
// over C coordinators.
//
//   npm run build && node bench/waiters.mjs [--waiters 3000,10000] [--networked-waiters 1000]
//     [--zookeeper-waiters N] [--coordinators 100] [--pairs 21] [--networked-pairs 3]
//     [--only memory|etcd|zookeeper] [--no-docs]
//
// A memory run serves 10,000 waiters in under half a second, so one run with and one without
// onQueued, on a shared machine, compared the other processes' turns more than the cost of
// positions (the same row measured 1.37x, 0.81x and 1.25x in three runs). Each row is therefore
// measured as --pairs pairs (memory; --networked-pairs on etcd and ZooKeeper, whose runs take
// seconds each), the two runs of a pair one after the other and in alternating order (a drift in
// the machine's load or the process's heap favours neither side), and the row shows the median
// of the pairs' ratios with their spread. 21 pairs on memory (a pair takes about a second): with
// 5, the median of the same row ranged 1.09x-1.33x from run to run, with 11 still 1.10x-1.20x.
// 3 on etcd and ZooKeeper: the first ZooKeeper run of a section is sometimes slow for whoever
// runs it (7.65 s against 3.75-4.10 s), which one pair cannot absorb.
//
// The full-size run on etcd: --networked-waiters 10000 (a mutex waiter there reads no key: its
// enqueue counts the name's keys, and its coordinator's view of the name tells where it stands,
// on entering and on each wake-up). On ZooKeeper a waiter of a coordinator with several on the
// name (or asking for positions) reads where it stands from the process's followed view of the
// name, with no listing; a coordinator's first waiter there still lists the queue so far:
// --zookeeper-waiters sets its size apart (--zookeeper-waiters 10000 for the full size).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { connect } from '../dist/index.js';
import { backendOf } from '../dist/testing.js';
import { arg, flag, writeSection } from './common.mjs';
import { etcdServer } from './etcd-common.mjs';
import { zookeeperServer } from './zookeeper-common.mjs';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc');
const sizes = (name, fallback) => (process.argv.includes(`--${name}`) ? process.argv[process.argv.indexOf(`--${name}`) + 1] : fallback).split(',').map(Number);
const memoryWaiters = sizes('waiters', '3000,10000');
const networkedWaiters = sizes('networked-waiters', '1000');
const zookeeperWaiters = process.argv.includes('--zookeeper-waiters') ? sizes('zookeeper-waiters', '') : networkedWaiters;
const coordinatorCount = arg('coordinators', 100);
const pairsOf = { memory: arg('pairs', 21), etcd: arg('networked-pairs', 3), zookeeper: arg('networked-pairs', 3) };
for (const [backend, pairs] of Object.entries(pairsOf)) if (!Number.isInteger(pairs) || pairs < 1) throw new Error(`${backend}: the number of pairs must be a whole number of at least 1, not ${pairs}`);
const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;

const heapUsed = () => {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};

/**
 * One run: a holder, then `waiters` contenders spread over `coords` (round robin), entered one
 * after another; then the holder releases and every waiter releases as soon as it is granted.
 */
async function run(url, waiters, coordCount, withPositions) {
  const coords = [];
  for (let i = 0; i < coordCount; i++) coords.push(await connect(url));
  const holderCoord = await connect(url);
  const name = `bench/waiters-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const holder = await holderCoord.mutex(name).acquire();
  const mutexes = coords.map((coord) => coord.mutex(name));
  // Every report is logged (waiter, position, releases begun and finished when it was made) and
  // checked after the run, when each waiter's place in the queue is known. The log is made before
  // the heap is measured, and lives outside the heap.
  const log = withPositions ? new ReportLog() : undefined;
  const lastReported = withPositions ? new Int32Array(waiters).fill(-1) : undefined;
  const heapBefore = heapUsed();

  let failure; // the first acquire that failed: the run is over
  let started = 0; // releases begun
  let completed = 0; // releases finished
  let wrongReports = 0;
  let firstWrong;
  const grants = [];
  const acquires = [];
  const inLine = [];
  // Both runs enter the same way: every acquire is started at once, then the run waits until
  // every waiter is in line (with onQueued: its first report; without: its key). Entering one by
  // one with onQueued, and all at once without, measured the heap's layout as much as positions:
  // on memory the same build served 1.12x slower with onQueued entered in a burst like the run
  // without, 1.17x-1.22x entered one by one.
  for (let i = 0; i < waiters; i++) {
    let entered;
    if (withPositions) inLine.push(new Promise((resolve) => (entered = resolve)));
    const onQueued = withPositions
      ? (position) => {
          log.add(i, position, started, completed);
          lastReported[i] = position;
          // Once: resolving an already resolved promise is not free in Node (its promise hook
          // hears of it), and a cost of the benchmark must not be counted as a cost of positions.
          if (entered) {
            entered();
            entered = undefined;
          }
        }
      : undefined;
    const acquired = mutexes[i % mutexes.length].acquire({ onQueued }).then(async (lease) => {
      // Granted before its first report (a report is not owed to a waiter that never waited).
      if (entered) {
        entered();
        entered = undefined;
      }
      if (withPositions && lastReported[i] !== 0) {
        wrongReports++;
        firstWrong ??= `waiter ${i} granted after last reporting ${lastReported[i]}`;
      }
      grants.push({ index: i, token: lease.token });
      started++;
      await lease.release();
      completed++;
    });
    acquired.catch((error) => {
      failure ??= error;
      entered?.();
      entered = undefined;
    });
    acquires.push(acquired);
  }
  // Not Promise.race with the acquires: an acquire's settlement would resolve the race's promise
  // a second time while served, which Node's promise hook hears of (1 to 2 ms per 10,000 waiters
  // of the benchmark's own, counted as a cost of positions).
  if (withPositions) await Promise.all(inLine);
  else await untilKeys(holderCoord, name, waiters + 1, () => failure);
  inLine.length = 0;
  await answered(coords, name);
  const heapPerWaiter = (heapUsed() - heapBefore) / waiters;
  const start = performance.now();
  // This process's CPU time too: on a shared machine the wall time also counts the other
  // processes' turns, while the cost of positions is work done here.
  const cpuStart = process.cpuUsage();
  const threadStart = mainThreadTimes();
  const loopStart = performance.eventLoopUtilization();
  started++;
  await holder.release();
  completed++;
  await Promise.all(acquires);
  const seconds = (performance.now() - start) / 1000;
  const cpuUsed = process.cpuUsage(cpuStart);
  const cpuSeconds = (cpuUsed.user + cpuUsed.system) / 1e6;
  const loop = performance.eventLoopUtilization(loopStart);
  const threadEnd = mainThreadTimes();
  // Where the main thread's wall time went: running, ready to run but waiting for a core (the
  // machine's other processes), and idle in the event loop (waiting for I/O or a timer).
  const thread = threadStart && threadEnd ? { running: (threadEnd.running - threadStart.running) / 1e9, waiting: (threadEnd.waiting - threadStart.waiting) / 1e9, idle: loop.idle / 1000 } : undefined;
  // Served in creation order: tokens strictly increase from grant to grant.
  const fifo = grants.length === waiters && grants.every((g, k) => k === 0 || g.token > grants[k - 1].token);
  await Promise.all([...coords, holderCoord].map((c) => c.close()));
  if (log) {
    // A waiter's place in the queue is its place in the grants (served in creation order).
    const rank = new Int32Array(waiters);
    grants.forEach((g, k) => (rank[g.index] = k));
    const checked = log.check(rank);
    wrongReports += checked.wrong;
    firstWrong ??= checked.first;
  }
  return { waiters, coordCount, withPositions, seconds, cpuSeconds, thread, heapPerWaiter, fifo, served: grants.length, reports: log?.size ?? 0, wrongReports, firstWrong };
}

/** Every position report of a run, four numbers each, in typed arrays (outside the heap). */
class ReportLog {
  #chunks = [];
  #current = new Int32Array(4 * 65536);
  #used = 0;
  size = 0;

  add(waiter, position, started, completed) {
    if (this.#used === this.#current.length) {
      this.#chunks.push(this.#current);
      this.#current = new Int32Array(4 * 65536);
      this.#used = 0;
    }
    const at = this.#used;
    this.#current[at] = waiter;
    this.#current[at + 1] = position;
    this.#current[at + 2] = started;
    this.#current[at + 3] = completed;
    this.#used += 4;
    this.size++;
  }

  /**
   * Checks every report against its waiter's place `rank`: the waiters ahead when it was made lie
   * between rank minus the releases begun and rank minus those finished (a release counts from
   * when it begins: its delete may land before its promise settles; never below 0: once the
   * release that admits the waiter has begun, the report its grant brings is 0), and each report
   * of a waiter is lower than its last.
   */
  check(rank) {
    const last = new Int32Array(rank.length).fill(-1);
    let wrong = 0;
    let first;
    for (const chunk of [...this.#chunks, this.#current.subarray(0, this.#used)]) {
      for (let at = 0; at < chunk.length; at += 4) {
        const [waiter, position, started, completed] = chunk.subarray(at, at + 4);
        const low = Math.max(0, rank[waiter] - started);
        const high = Math.max(0, rank[waiter] - completed);
        if (position < low || position > high || (last[waiter] !== -1 && position >= last[waiter])) {
          wrong++;
          first ??= `waiter ${rank[waiter]} in line reported ${position} (after ${last[waiter]}); between ${low} and ${high} expected`;
        }
        last[waiter] = position;
      }
    }
    return { wrong, first };
  }
}

/**
 * This process's main thread's time on a core and time ready to run but waiting for one, in ns
 * (Linux's /proc schedstat; undefined elsewhere). On a shared machine the wall time of a run is
 * mostly the second: the served-in times are compared with it in view.
 */
function mainThreadTimes() {
  try {
    const [running, waiting] = readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ').map(Number);
    return { running, waiting };
  } catch {
    return undefined;
  }
}

/** Resolves once the mutex has `count` keys (holder included), listing every 20 ms; throws once `failed()` says an acquire failed. */
async function untilKeys(coord, name, count, failed) {
  const backend = backendOf(coord);
  while ((await backend.list(name)).length < count) {
    if (failed()) throw failed();
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Resolves once every request the waiters' coordinators had sent is answered and reacted to, so
 * that the heap is measured with every waiter waiting, not with entries still on their way. A
 * ZooKeeper server answers a session's requests in order: a read sent now is answered after every
 * enqueue sent before it, and one turn of the event loop later the watches those answers arm have
 * been sent; a second read is answered after them. Without it, the run without onQueued (every
 * acquire started at once, measured once all keys exist) counted the enqueue listings still in
 * flight, each as long as the queue so far: 11.4 KB per waiter on ZooKeeper at 1,000 waiters, 7.1 KB
 * once they were answered. The read is of the name's own node, not a listing of its queue: 100
 * coordinators listing 10,000 waiters twice over moved 120 MB at once, and on a loaded machine a
 * session's heartbeat queued behind its listing went unanswered for its whole timeout.
 */
async function answered(coords, name) {
  for (let round = 0; round < 2; round++) {
    await Promise.all(coords.map((coord) => backendOf(coord).get(name)));
    await new Promise((resolve) => setImmediate(resolve));
  }
}

const results = [];
const threadTimes = (t) => `running ${t.running.toFixed(2)} s, waiting for a core ${t.waiting.toFixed(2)} s, idle ${t.idle.toFixed(2)} s`;
const log = (r, backend) => {
  const line = `${backend}: ${r.waiters} waiters over ${r.coordCount} coordinator(s), onQueued ${r.withPositions ? 'yes' : 'no'}: served ${r.served} in ${r.seconds.toFixed(2)} s (client CPU ${r.cpuSeconds.toFixed(2)} s${r.thread ? `; main thread ${threadTimes(r.thread)}` : ''}), FIFO ${r.fifo ? 'yes' : 'NO'}, ${r.withPositions ? `${r.reports} reports, ${r.wrongReports} wrong${r.firstWrong ? ` (${r.firstWrong})` : ''}, ` : ''}heap ${(r.heapPerWaiter / 1024).toFixed(2)} KB per waiter`;
  console.log(line);
};

const failures = [];
// A run that breaks (a session lost on an overloaded machine, say) is reported, not fatal.
process.on('unhandledRejection', (error) => console.error(`unhandled: ${error?.message ?? error}`));

async function measure(backend, url, waiterCounts) {
  try {
    // A discarded warm-up first.
    await run(url, Math.min(1000, waiterCounts[0]), 1, true);
    for (const waiters of waiterCounts) await measureRuns(backend, url, waiters);
  } catch (error) {
    failures.push(`${backend}: ${error?.message ?? error}`);
    console.error(`${backend} not measured: ${error?.message ?? error}`);
  }
}

async function measureRuns(backend, url, waiters) {
  // Each row's pairs, the two runs of a pair one after the other, the run without onQueued first
  // in every other pair, counted across the rows (with one pair per row, as on etcd and
  // ZooKeeper by default: without first over one coordinator, with first over many).
  let turn = 0;
  for (const coordCount of [1, coordinatorCount]) {
    for (let pair = 0; pair < pairsOf[backend]; pair++) {
      for (const withPositions of turn++ % 2 === 0 ? [false, true] : [true, false]) {
        const r = await run(url, waiters, coordCount, withPositions);
        log(r, backend);
        results.push({ backend, pair, ...r });
      }
    }
  }
}

const loadStart = loadavg();
if (!only || only === 'memory') await measure('memory', 'memory://', memoryWaiters);
if (!only || only === 'etcd') {
  const server = await etcdServer();
  try {
    await measure('etcd', `etcd://${server.endpoints.join(',')}`, networkedWaiters);
  } finally {
    await server.stop();
  }
}
if (!only || only === 'zookeeper') {
  const server = await zookeeperServer();
  try {
    // A 30 s session timeout (the default is 10 s): 1,000 enqueues sent at once each get a listing
    // as long as the queue so far, and on a loaded machine the heartbeat queued behind them was
    // answered too late (a session lost in the run, not a figure).
    await measure('zookeeper', `zookeeper://${server.endpoints.join(',')}?sessionTimeout=30000`, zookeeperWaiters);
  } finally {
    await server.stop();
  }
}

const target = { memory: 4, etcd: 8, zookeeper: 8 };
const median = (values) => {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
/** The median of `ratios` and, over several, their lowest and highest. */
const ratioText = (ratios) => `${median(ratios).toFixed(2)}x${ratios.length > 1 ? `, spread ${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}x` : ''}`;
const secondsOf = (runs, field) => `${median(runs.map((r) => r[field])).toFixed(2)} s`;
const kb = (runs) => (runs.length ? `${(median(runs.map((r) => r.heapPerWaiter)) / 1024).toFixed(2)} KB` : '-');
/** The main thread's split, each part the median over `runs`. */
const threadCell = (runs) => {
  const timed = runs.filter((r) => r.thread);
  if (!timed.length) return '-';
  const part = (name) => median(timed.map((r) => r.thread[name])).toFixed(2);
  return `${part('running')} / ${part('waiting')} / ${part('idle')} s`;
};
const rows = [];
const verdicts = [];
for (const backend of ['memory', 'etcd', 'zookeeper']) {
  for (const waiters of backend === 'memory' ? memoryWaiters : backend === 'zookeeper' ? zookeeperWaiters : networkedWaiters) {
    for (const coordCount of [1, coordinatorCount]) {
      const runs = results.filter((r) => r.backend === backend && r.waiters === waiters && r.coordCount === coordCount);
      if (!runs.length) continue;
      const withoutRuns = runs.filter((r) => !r.withPositions);
      const withRuns = runs.filter((r) => r.withPositions);
      // Pairs whose two runs both completed (a run that broke ends its backend's measurement).
      const pairs = [];
      for (const pair of new Set(runs.map((r) => r.pair))) {
        const without = withoutRuns.find((r) => r.pair === pair);
        const withP = withRuns.find((r) => r.pair === pair);
        if (without && withP) pairs.push({ without, withP });
      }
      const fifo = runs.every((r) => r.fifo);
      const wrong = withRuns.reduce((sum, r) => sum + r.wrongReports, 0);
      const firstWrong = withRuns.find((r) => r.firstWrong)?.firstWrong;
      const reports = withRuns.length ? `${Math.round(median(withRuns.map((r) => r.reports)))} (${wrong} wrong)` : 'not measured';
      const pairsCell = `${pairs.length}${pairs.length < pairsOf[backend] ? ` of ${pairsOf[backend]}` : ''}`;
      if (!pairs.length) {
        // Half a pair (the other run failed): shown as measured, with what is missing.
        rows.push(
          `| ${backend} | ${waiters} | ${coordCount} | ${pairsCell} | ${withoutRuns.length ? secondsOf(withoutRuns, 'seconds') : 'not measured'} | ${withRuns.length ? secondsOf(withRuns, 'seconds') : 'not measured'} | - | - | - | ${fifo ? 'yes' : 'NO'} | ${reports} | ${kb(withoutRuns)} | ${kb(withRuns)} |`,
        );
        verdicts.push(`${backend}, ${waiters} waiters over ${coordCount} coordinator(s): only the run ${withRuns.length ? 'with' : 'without'} onQueued completed${firstWrong ? `; first wrong report: ${firstWrong}` : ''}`);
        continue;
      }
      const ratios = pairs.map((p) => p.withP.seconds / p.without.seconds);
      const cpuRatios = pairs.map((p) => p.withP.cpuSeconds / p.without.cpuSeconds);
      // The main thread's own time on a core: without the other processes' turns or this
      // process's other threads (the collector's helpers), so far less noisy than the wall time.
      const runningRatios = pairs.filter((p) => p.withP.thread && p.without.thread).map((p) => p.withP.thread.running / p.without.thread.running);
      const running = runningRatios.length ? `; main thread running ${ratioText(runningRatios)}` : '';
      const ratio = median(ratios);
      const heapMet = Math.max(median(withRuns.map((r) => r.heapPerWaiter)), median(withoutRuns.map((r) => r.heapPerWaiter))) / 1024 <= target[backend];
      const over = pairs.length > 1 ? ` (median of ${pairs.length} pairs)` : '';
      verdicts.push(
        `${backend}, ${waiters} waiters over ${coordCount} coordinator(s): time with onQueued within 1.2x${over} ${ratio <= 1.2 ? 'met' : '**not met**'} (${ratioText(ratios)}; client CPU ${ratioText(cpuRatios)}${running}); heap <= ${target[backend]} KB ${heapMet ? 'met' : `**not met** (${kb(withoutRuns)} / ${kb(withRuns)})`}; FIFO and every report right ${fifo && wrong === 0 ? 'met' : `**not met**${firstWrong ? ` (first wrong report: ${firstWrong})` : ''}`}${pairs.length < pairsOf[backend] ? `; ${pairs.length} of ${pairsOf[backend]} pairs completed` : ''}`,
      );
      rows.push(
        `| ${backend} | ${waiters} | ${coordCount} | ${pairsCell} | ${secondsOf(withoutRuns, 'seconds')} | ${secondsOf(withRuns, 'seconds')} | **${ratio.toFixed(2)}x**${pairs.length > 1 ? ` (${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}x)` : ''} | ${secondsOf(withoutRuns, 'cpuSeconds')} / ${secondsOf(withRuns, 'cpuSeconds')} (${ratioText(cpuRatios)}) | ${threadCell(withoutRuns)}; ${threadCell(withRuns)}${runningRatios.length ? ` (running ${ratioText(runningRatios)})` : ''} | ${fifo ? 'yes' : 'NO'} | ${reports} | ${kb(withoutRuns)} | ${kb(withRuns)} (target <= ${target[backend]} KB) |`,
      );
    }
  }
}
const cpu = cpus()[0]?.model ?? 'unknown';
const pairsText = pairsOf.memory === pairsOf.etcd ? `${pairsOf.memory} pair${pairsOf.memory > 1 ? 's' : ''} per row` : `${pairsOf.memory} pairs per row on memory, ${pairsOf.etcd} on etcd and ZooKeeper, whose runs take seconds each`;
const nproc = execFileSync('nproc', { encoding: 'utf8' }).trim();
const report = [
  `Written by \`node bench/waiters.mjs${process.argv.length > 2 ? ` ${process.argv.slice(2).join(' ')}` : ''}\`, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC. One holder; W waiters queue behind it (spread round robin over the coordinators), every acquire started at once, and the run waits until each is in line (with onQueued: its first report; without: its key), the same way on both sides; then each is served in turn and releases at once. Each row is measured as pairs of runs, one without and one with onQueued, one after the other and in alternating order (${pairsText}): a memory run lasts under a second, and on a shared machine a single pair measured the other processes' turns as much as positions. The ratio is the median of the pairs' ratios, with the lowest and highest in brackets; times, CPU, main thread and heap are the medians of the runs on each side; FIFO and wrong reports count every run. "Served in" is the time from the holder's release to the last grant; "client CPU" is this process's CPU time over the same span (the coordinators' work, the check of every report included; not the server's), steadier than the wall time on a shared machine. "Main thread" splits the process's main thread's wall time while serving (Linux schedstat and the event loop's idle time): on a core, ready to run but waiting for a core (the other processes' turns: on a loaded machine most of the wall time, and why it can exceed the CPU time), and idle in the event loop (waiting on a timer or the network; on memory nothing waits, so about 0). The running time leaves out the other processes' turns and this process's other threads (the collector's helpers; its pauses on the main thread count): on a loaded machine its ratio and the CPU time's spread far less from pair to pair than the wall time's. Positions: every report is logged when made and checked after the run against the waiter's place in the queue (its place in the grants, which follow creation order): it must lie between the waiters ahead counting releases begun and counting releases finished, and fall at each report; the last one before the grant must be 0. Reports are coalesced under a high rate of changes on every backend (README, \`onQueued\`: reporting kept to about a fortieth of the process's time), so far fewer than W(W+1)/2. A coordinator reports from its own view (on etcd held until it shows every write the process's coordinators have seen confirmed): a report that still counts a release already finished counts as wrong here; the 0 a waiter is told at its grant is right even when its view showed the grant before showing it next in line. Heap: the process's heap after a full GC with every waiter queued and every request its coordinator sent answered (two reads in turn on each coordinator, which ZooKeeper answers after everything sent before them), less before, per waiter (client-side state of the coordinators included). A discarded run of up to 1,000 waiters comes first.`,
  '',
  '| backend | waiters | coordinators | pairs | served in, no onQueued | served in, every waiter with onQueued | ratio, with / without onQueued (median of the pairs; lowest-highest) | client CPU while serving, no / with onQueued (ratio: median, spread) | main thread running / waiting for a core / idle, no; with onQueued (running: ratio, median, spread) | FIFO, all served | position reports per run (median; wrong: in all runs) | heap per waiter, no onQueued | heap per waiter, with onQueued |',
  '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ...rows,
  '',
  'Targets (issue 11), as this run measured them:',
  '',
  ...verdicts.map((v) => `- ${v}`),
  ...(failures.length ? ['', `Not measured in this run: ${failures.join('; ')}.`] : []),
  '',
  `Machine: ${cpu}, ${nproc} cores, ${(totalmem() / 2 ** 30).toFixed(1)} GiB; Node ${process.version}; load average ${loadStart.map((l) => l.toFixed(2)).join(', ')} at the start and ${loadavg().map((l) => l.toFixed(2)).join(', ')} at the end (shared machine).`,
].join('\n');
console.log(`\n${report}`);
if (!flag('no-docs')) writeSection('Many waiters', report);
process.exit(0);
