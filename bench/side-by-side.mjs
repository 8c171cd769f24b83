// Baton beside the peers, on the same fresh servers, in one run: Go's own etcd client
// (clientv3/concurrency Mutex and Election), the etcd3 package's Lock, Apache Curator
// (InterProcessMutex, InterProcessSemaphoreV2, InterProcessReadWriteLock, LeaderLatch) and kazoo
// (Lock, Semaphore, ReadLock/WriteLock, Election). Every library runs as its own process (the
// programs in bench/peers/), N clients each with its own session, looping acquire -> release (on
// etcd, Baton's coordinators share the process's one connection and Go's sessions one
// clientv3.Client; every other client has its own connection); each process discards its first
// --warmup seconds, and a discarded Baton run warms each server first. Libraries take turns (the order rotating every round) so that noise on
// a shared machine hits all alike.
//
// Scenarios: 8 clients on one mutex (--rounds short rounds; Baton runs between the peers, each
// peer's round beside one of Baton's, and Baton / peer is the median over those pairs of rounds),
// scaling curves (--clients list),
// handoff latency p50/p99 (release -> next grant, stamped with CLOCK_MONOTONIC in every process),
// semaphore, read-write lock and election beside their peers, and ZooKeeper's uncontended
// acquire + release against the same client library's raw create + delete, for Baton, Curator and
// kazoo (each library's lock against its own client's raw pair).
// Writes the "Side by side" section of docs/benchmarks.md and its charts (docs/img/bench-*.svg)
// unless --no-docs.
//
//   npm run build && node bench/side-by-side.mjs [--seconds 1.5] [--scale-seconds 3] [--warmup 1]
//     [--zookeeper-warmup 10] [--rounds 8] [--clients 1,2,8,32,128] [--permits 2] [--uncontended-iterations 2000]
//     [--only etcd|zookeeper|etcd-mutex|zookeeper-mutex] [--no-docs]
//
// --only <backend>-mutex runs the 8-client mutex rounds of one backend and nothing else (about a
// minute, for iterating on the contended path); such a partial run never writes the docs.
// A bigger run: --seconds 4 --scale-seconds 8 --rounds 16 --clients 1,2,4,8,16,32,64,128,256.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { arg, debianVersion, flag, jsonResult, versionOf, writeSection } from './common.mjs';
import { buildGoPeer, etcdServer } from './etcd-common.mjs';
import { fourLetterWord, packetsReceived, zookeeperServer } from './zookeeper-common.mjs';
import { barChart, lineChart } from './svg.mjs';

const PEERS = fileURLToPath(new URL('./peers/', import.meta.url));
const DOCS = fileURLToPath(new URL('../docs/', import.meta.url));
const JARS = '/usr/share/java';
const CURATOR_CLASSPATH = ['curator-recipes', 'curator-framework', 'curator-client', 'slf4j-nop'].map((j) => `${JARS}/${j}.jar`).join(':');

const seconds = arg('seconds', 1.5);
const scaleSeconds = arg('scale-seconds', 3);
const warmup = arg('warmup', 1);
/**
 * The discarded Baton run that warms the ZooKeeper server, in seconds. A fresh server's first
 * seconds of 8 clients ran slower for whoever ran then: its update latency (mntr) 1.8-2.3 ms in the
 * first 2 s against 0.4-0.8 ms a few seconds on, with its fsyncs no slower (its JIT warming up);
 * etcd's warm-up stays 3 s. The first measured round still ran slow in some runs, for whichever
 * library ran it, after a warm-up of 25 s as after one of 10 s (with the server's fsyncs slower
 * then, 0.7-1 ms): the paired ratio takes that round with its neighbour, so it weighs as one pair.
 */
const zookeeperWarmup = arg('zookeeper-warmup', 10);
const rounds = arg('rounds', 8);
const permits = arg('permits', 2);
const uncontendedIterations = arg('uncontended-iterations', 2000);
const clientCounts = (process.argv.includes('--clients') ? process.argv[process.argv.indexOf('--clients') + 1] : '1,2,8,32,128').split(',').map(Number);
const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
if (only !== undefined && !['etcd', 'zookeeper', 'etcd-mutex', 'zookeeper-mutex'].includes(only)) throw new Error(`--only takes etcd, zookeeper, etcd-mutex or zookeeper-mutex, not ${only}`);
/** Whether this run measures `backend`; `mutexOnly` when it measures its mutex rounds alone. */
const runs = (backend) => only === undefined || only === backend || only === `${backend}-mutex`;
const mutexOnly = only?.endsWith('-mutex') ?? false;
/** A partial run never writes docs/benchmarks.md: the page shows one whole run. */
const writeDocs = !flag('no-docs') && !mutexOnly;
const MAIN_CLIENTS = 8;

// ---------------------------------------------------------------------------------------------
// Building and running the peers

/** Compiles bench/peers/CuratorBench.java; returns its classpath. */
function compileCurator() {
  const out = join(tmpdir(), `baton-bench-curator-${process.pid}`);
  mkdirSync(out, { recursive: true });
  execFileSync('javac', ['-d', out, '-cp', CURATOR_CLASSPATH, join(PEERS, 'CuratorBench.java')], { stdio: 'pipe' });
  return `${out}:${CURATOR_CLASSPATH}`;
}

/**
 * Runs one peer process; resolves with { count, seconds, extra, stamps: [[granted, released] ns as
 * bigint], all, cpuUs, requests }, or { failed: why } when it ends without a result or overruns its
 * time (it is killed). `all` is every hold the process took, warm-up included, and `cpuUs` its CPU
 * time over the counted seconds, when the peer says (its "ALL" and "CPU" lines). With `packets`
 * (the server's received-packet count, read before the process starts and after it ends),
 * `requests` is the server requests per hold over the whole process, its sessions' connects,
 * pings and closes included.
 */
async function runPeer(command, args, limitSeconds, packets) {
  const before = packets ? await packets() : undefined;
  const result = await new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err = (err + c).slice(-4000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), limitSeconds * 1000);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const result = /^RESULT (\d+) ([\d.]+)(?: (\d+))?$/m.exec(out);
      if (!result) {
        const why = signal === 'SIGKILL' ? `did not finish within ${limitSeconds} s` : `failed (exit ${code ?? signal})`;
        console.error(`${basename(command)} ${args.slice(1, 4).join(' ')}: ${why}: ${err.trim().split('\n').slice(-3).join(' | ')}`);
        return resolve({ failed: why, count: 0, seconds: 1, stamps: [] });
      }
      const stamps = [...out.matchAll(/^S (\d+) (\d+)$/gm)].map((m) => [BigInt(m[1]), BigInt(m[2])]);
      const all = /^ALL (\d+)$/m.exec(out)?.[1];
      const cpuUs = /^CPU (\d+)$/m.exec(out)?.[1];
      resolve({
        count: Number(result[1]),
        seconds: Number(result[2]),
        extra: result[3] === undefined ? undefined : Number(result[3]),
        stamps,
        all: all === undefined ? undefined : Number(all),
        cpuUs: cpuUs === undefined ? undefined : Number(cpuUs),
      });
    });
  });
  const after = packets && !result.failed ? await packets() : undefined;
  // The second reading is itself one packet.
  if (before !== undefined && after !== undefined && result.all) result.requests = (after - before - 1) / result.all;
  return result;
}

/**
 * Handoff latencies in µs: for holds sorted by grant, the time from one hold's release stamp to
 * the next hold's grant. Throws if two holds overlap (the stamps would show a broken lock).
 */
function handoffs(stamps) {
  const sorted = [...stamps].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const out = [];
  for (let i = 1; i < sorted.length; i++) {
    const gap = sorted[i][0] - sorted[i - 1][1];
    if (gap < 0n) throw new Error('two holds of an exclusive lock overlapped');
    out.push(Number(gap) / 1000);
  }
  return out;
}

const quantile = (xs, q) => {
  if (!xs.length) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
};
const median = (xs) => quantile(xs, 0.5);
const fmtMs = (us) => (Number.isNaN(us) ? '-' : us >= 10000 ? `${(us / 1000).toFixed(0)} ms` : `${(us / 1000).toFixed(2)} ms`);
const perSecond = (r) => Math.round(r.count / r.seconds);
/** holds/s, or why the run gave no figure. */
const rateText = (r) => (r.failed ? `no figure: ${r.failed}` : String(perSecond(r)));

// ---------------------------------------------------------------------------------------------
// The libraries, per backend and recipe

/** How long a peer run may take: its time, plus connecting its clients on a busy machine. */
const limit = (clients, secs) => warmup + secs + 60 + clients;

let sequence = 0;
const uniqueName = (lib, mode) => `bench/${lib}-${mode}-${process.pid}-${sequence++}`;

function etcdLibraries(endpoints, goBinary) {
  const url = `etcd://${endpoints.join(',')}`;
  return {
    Baton: { modes: ['mutex', 'semaphore', 'rwlock', 'election'], run: (mode, clients, secs) => runPeer(process.execPath, [join(PEERS, 'baton-bench.mjs'), url, mode, uniqueName('baton', mode), String(clients), String(warmup), String(secs), String(permits)], limit(clients, secs)) },
    // One clientv3.Client for the process's sessions, as Baton's coordinators share one connection.
    "Go's concurrency": goBinary && { modes: ['mutex', 'election'], run: (mode, clients, secs) => runPeer(goBinary, [endpoints.join(','), mode, `/${uniqueName('go', mode)}`, String(clients), String(warmup), String(secs), 'shared'], limit(clients, secs)) },
    etcd3: { modes: ['mutex'], run: (mode, clients, secs) => runPeer(process.execPath, [join(PEERS, 'etcd3-lock.mjs'), endpoints.join(','), mode, uniqueName('etcd3', mode), String(clients), String(warmup), String(secs)], limit(clients, secs)) },
  };
}

function zookeeperLibraries(endpoints, curatorClasspath, kazoo) {
  const url = `zookeeper://${endpoints.join(',')}`;
  const connectString = endpoints.join(',');
  const packets = () => packetsReceived(endpoints[0]);
  return {
    Baton: { modes: ['mutex', 'semaphore', 'rwlock', 'election'], run: (mode, clients, secs) => runPeer(process.execPath, [join(PEERS, 'baton-bench.mjs'), url, mode, uniqueName('baton', mode), String(clients), String(warmup), String(secs), String(permits)], limit(clients, secs), packets) },
    Curator: curatorClasspath && {
      modes: ['mutex', 'semaphore', 'rwlock', 'election'],
      run: (mode, clients, secs) => runPeer('java', ['-cp', curatorClasspath, 'CuratorBench', connectString, mode === 'election' ? 'latch' : mode, `/${uniqueName('curator', mode)}`, String(clients), String(warmup), String(secs), String(permits)], limit(clients, secs), packets),
    },
    kazoo: kazoo && { modes: ['mutex', 'semaphore', 'rwlock', 'election'], run: (mode, clients, secs) => runPeer('/usr/bin/python3', [join(PEERS, 'kazoo_bench.py'), connectString, mode, `/${uniqueName('kazoo', mode)}`, String(clients), String(warmup), String(secs), String(permits)], limit(clients, secs), packets) },
  };
}

const PEER_NAMES = {
  etcd: { mutex: { "Go's concurrency": 'Mutex', etcd3: 'Lock (retried at once)' }, election: { "Go's concurrency": 'Election' } },
  zookeeper: {
    mutex: { Curator: 'InterProcessMutex', kazoo: 'Lock' },
    semaphore: { Curator: 'InterProcessSemaphoreV2', kazoo: 'Semaphore' },
    rwlock: { Curator: 'InterProcessReadWriteLock', kazoo: 'ReadLock / WriteLock' },
    election: { Curator: 'LeaderLatch', kazoo: 'Election' },
  },
};

/** `libraries` that implement `mode`, rotated by `turn` so no library always runs first. */
function inTurn(libraries, mode, turn) {
  const names = Object.keys(libraries).filter((name) => libraries[name]?.modes.includes(mode));
  return names.map((_, i) => names[(i + turn) % names.length]);
}

/**
 * ZooKeeper's own counters around each mutex round (`mntr`), for the log: its fsyncs and their mean
 * time, the mean update latency, the writes per fsync batch, snapshots taken and the JVM's pauses.
 * A round slow for every library shows there whether the server was (`fsync` on a shared disk).
 */
function zookeeperStats(endpoint) {
  const read = async () => Object.fromEntries([...((await fourLetterWord(endpoint, 'mntr')) ?? '').matchAll(/^(zk_\w+)\t(\S+)$/gm)].map((m) => [m[1], Number(m[2])]));
  read.describe = (a, b) => {
    const d = (key) => (b[key] ?? 0) - (a[key] ?? 0);
    const mean = (what) => (d(`zk_cnt_${what}`) ? (d(`zk_sum_${what}`) / d(`zk_cnt_${what}`)).toFixed(2) : '-');
    return `server: ${d('zk_cnt_fsynctime')} fsyncs of ${mean('fsynctime')} ms, ${mean('sync_processor_batch_size')} writes each, update latency ${mean('updatelatency')} ms, ${d('zk_snap_count')} snapshots, JVM paused ${d('zk_sum_jvm_pause_time_ms')} ms`;
  };
  return read;
}

/**
 * The order of the mutex rounds' libraries in `round`: Baton between the peers, so that each
 * peer's round runs right beside one of Baton's, half the peers before it and half after, the sides
 * swapping every round (with one peer: Baton first, then the peer first).
 */
function mutexOrder(libraries, round) {
  const peers = Object.keys(libraries).filter((name) => name !== 'Baton' && libraries[name]?.modes.includes('mutex'));
  const rotated = peers.map((_, i) => peers[(i + Math.floor(round / 2)) % peers.length]);
  const before = rotated.slice(0, Math.floor(rotated.length / 2));
  const after = rotated.slice(Math.floor(rotated.length / 2));
  return round % 2 === 0 ? [...before, 'Baton', ...after] : [...after.reverse(), 'Baton', ...before.reverse()];
}

/** Runs every scenario on one backend (only the mutex rounds when `mutexOnly`); returns its results. */
async function measureBackend(backend, libraries, log, stats) {
  const results = { mutex: {}, scaling: {}, recipes: {} };
  // 8 clients on one mutex: short rounds, Baton between the peers.
  for (let round = 0; round < rounds; round++) {
    for (const name of mutexOrder(libraries, round)) {
      const before = await stats?.();
      const r = await libraries[name].run('mutex', MAIN_CLIENTS, seconds);
      const after = await stats?.();
      (results.mutex[name] ??= []).push(r);
      const details = [
        r.extra !== undefined ? `${r.extra} failed tries` : undefined,
        r.requests !== undefined ? `${r.requests.toFixed(2)} requests/hold` : undefined,
        r.cpuUs !== undefined && r.count ? `${(r.cpuUs / r.count).toFixed(0)} us CPU/hold` : undefined,
        r.stamps.length > 1 ? `handoff p50 ${fmtMs(median(handoffs(r.stamps)))}` : undefined,
        before && after ? stats.describe(before, after) : undefined,
      ].filter(Boolean);
      log(`${backend} mutex, ${MAIN_CLIENTS} clients, round ${round + 1}: ${name} ${rateText(r)}/s${details.length ? ` (${details.join('; ')})` : ''}`);
    }
  }
  if (mutexOnly) return results;
  // Scaling curves (the 8-client point is the rounds' median).
  for (const clients of clientCounts) {
    for (const name of inTurn(libraries, 'mutex', clients)) {
      let r;
      if (clients === MAIN_CLIENTS && results.mutex[name]) {
        const list = results.mutex[name];
        r = [...list].sort((a, b) => perSecond(a) - perSecond(b))[Math.floor(list.length / 2)];
      } else {
        r = await libraries[name].run('mutex', clients, scaleSeconds);
        log(`${backend} mutex, ${clients} clients: ${name} ${perSecond(r)}/s`);
      }
      (results.scaling[name] ??= {})[clients] = r;
    }
  }
  // The other recipes, 8 clients each.
  for (const mode of ['semaphore', 'rwlock', 'election']) {
    for (const name of inTurn(libraries, mode, 0)) {
      const r = await libraries[name].run(mode, MAIN_CLIENTS, scaleSeconds);
      (results.recipes[mode] ??= {})[name] = r;
      log(`${backend} ${mode}, ${MAIN_CLIENTS} clients: ${name} ${rateText(r)}/s`);
    }
  }
  return results;
}

/**
 * ZooKeeper's uncontended acquire + release against a raw create(EPHEMERAL_SEQUENTIAL) + delete of
 * the same client library, one library after another on the same server: Baton
 * (bench/zookeeper-uncontended.mjs, node-zookeeper-client's raw pair), then Curator and kazoo
 * (their peers' uncontended mode, their own clients' raw pair). Each is `{ raw, lock, requests:
 * { raw, lock }, rounds, perRound }` (Baton's also `tryAcquire`), or `{ failed: why }`.
 */
function uncontendedZooKeeper(endpoints, curatorClasspath, kazoo) {
  const connectString = endpoints.join(',');
  const n = String(uncontendedIterations);
  const attempt = (name, command, args) => {
    try {
      return jsonResult(command, args);
    } catch (error) {
      const why = String(error.stderr || error.message).trim().split('\n').slice(-2).join(' | ');
      log(`ZooKeeper uncontended, ${name}: no figure: ${why}`);
      return { failed: why };
    }
  };
  const baton = attempt('Baton', process.execPath, [fileURLToPath(new URL('./zookeeper-uncontended.mjs', import.meta.url)), '--endpoints', connectString, '--iterations', n]);
  const results = { Baton: baton.failed ? baton : { ...baton, lock: baton.baton, requests: { ...baton.requests, lock: baton.requests.baton }, perRoundMs: { ...baton.perRoundMs, lock: baton.perRoundMs.baton } } };
  if (curatorClasspath) results.Curator = attempt('Curator', 'java', ['-cp', curatorClasspath, 'CuratorBench', connectString, 'uncontended', `/${uniqueName('curator', 'uncontended')}`, n]);
  if (kazoo) results.kazoo = attempt('kazoo', '/usr/bin/python3', [join(PEERS, 'kazoo_bench.py'), connectString, 'uncontended', `/${uniqueName('kazoo', 'uncontended')}`, n]);
  for (const [name, r] of Object.entries(results)) {
    if (!r.failed) log(`ZooKeeper uncontended: ${name} lock ${r.lock.toFixed(3)} ms, its raw pair ${r.raw.toFixed(3)} ms: ${pairedRatio(r).toFixed(2)}x`);
  }
  if (!results.Baton.failed && results.Baton.floor !== undefined) log(`ZooKeeper uncontended: Baton's requests by hand (the floor) ${results.Baton.floor.toFixed(3)} ms: ${pairedRatio(results.Baton, 'floor').toFixed(2)}x its raw pair`);
  return results;
}

/**
 * An uncontended run's `kind` against its raw pair: the median over the rounds of the kind's
 * round time over the raw round's next to it. Neighbouring rounds run a fraction of a second
 * apart, so a shared machine's load, which moves within seconds, divides out.
 */
const roundRatios = (r, kind) => r.perRoundMs[kind].map((ms, i) => ms / r.perRoundMs.raw[i]);
const pairedRatio = (r, kind = 'lock') => median(roundRatios(r, kind));
/** The paired ratio and its spread over the rounds (quartiles), for the report. */
const pairedRatioText = (r, kind = 'lock') => `${pairedRatio(r, kind).toFixed(2)}x (${quantile(roundRatios(r, kind), 0.25).toFixed(2)}-${quantile(roundRatios(r, kind), 0.75).toFixed(2)})`;

// ---------------------------------------------------------------------------------------------
// Facts about the machine and the software

function facts(etcdVersion, zookeeperVersion) {
  const curatorJar = debianVersion('libcurator-recipes-java');
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: versionOf('nproc', [], /(\d+)/),
    memoryGiB: (totalmem() / 2 ** 30).toFixed(1),
    node: process.version,
    etcd: etcdVersion,
    zookeeper: zookeeperVersion,
    go: versionOf('go', ['version'], /go version go(\S+)/),
    goEtcd: debianVersion('golang-etcd-server-dev'),
    etcd3: JSON.parse(readFileSync(new URL('../node_modules/etcd3/package.json', import.meta.url), 'utf8')).version,
    nodeZookeeperClient: JSON.parse(readFileSync(new URL('../node_modules/node-zookeeper-client/package.json', import.meta.url), 'utf8')).version,
    java: versionOf('java', ['-version'], /version "([^"]+)"/),
    curator: curatorJar,
    python: versionOf('/usr/bin/python3', ['--version'], /Python (\S+)/),
    kazoo: debianVersion('python3-kazoo'),
  };
}

// ---------------------------------------------------------------------------------------------
// The run

const log = (line) => console.log(line);
const startedAt = new Date();
const load = { start: loadavg(), end: undefined };
const measured = {};
let uncontended;
let versions;
{
  let goBinary;
  let curatorClasspath;
  try {
    goBinary = buildGoPeer();
  } catch (error) {
    log(`Go's client not measured: ${String(error.stderr ?? error.message).split('\n').slice(0, 3).join(' ')}`);
  }
  try {
    curatorClasspath = compileCurator();
  } catch (error) {
    log(`Curator not measured: ${String(error.stderr ?? error.message).split('\n')[0]}`);
  }
  const kazoo = spawnSync('/usr/bin/python3', ['-c', 'import kazoo']).status === 0;
  if (!kazoo) log('kazoo not measured: /usr/bin/python3 cannot import kazoo');

  let etcdVersion = 'not run';
  let zookeeperVersion = 'not run';
  if (runs('etcd')) {
    const server = await etcdServer();
    etcdVersion = server.version;
    try {
      const libraries = etcdLibraries(server.endpoints, goBinary);
      const warm = await libraries.Baton.run('mutex', MAIN_CLIENTS, 3);
      log(`etcd warm-up (discarded): Baton ${perSecond(warm)}/s`);
      measured.etcd = await measureBackend('etcd', libraries, log);
    } finally {
      await server.stop();
    }
  }
  if (runs('zookeeper')) {
    const server = await zookeeperServer();
    zookeeperVersion = server.version;
    try {
      const libraries = zookeeperLibraries(server.endpoints, curatorClasspath, kazoo);
      const warm = await libraries.Baton.run('mutex', MAIN_CLIENTS, zookeeperWarmup);
      log(`ZooKeeper warm-up (discarded): Baton ${perSecond(warm)}/s over ${zookeeperWarmup} s`);
      measured.zookeeper = await measureBackend('zookeeper', libraries, log, zookeeperStats(server.endpoints[0]));
      if (!mutexOnly) uncontended = uncontendedZooKeeper(server.endpoints, curatorClasspath, kazoo);
    } finally {
      await server.stop();
    }
  }
  load.end = loadavg();
  versions = facts(etcdVersion, zookeeperVersion);
}

// ---------------------------------------------------------------------------------------------
// The report

const BACKEND_TITLE = { etcd: 'etcd', zookeeper: 'ZooKeeper' };
const libLabel = (backend, mode, name) => (PEER_NAMES[backend]?.[mode]?.[name] ? `${name} ${PEER_NAMES[backend][mode][name]}` : name);
const charts = [];

/**
 * Baton's round over `name`'s round run beside it, for every round where both gave a figure: the
 * load of a shared machine moves within seconds and divides out of each pair.
 */
function pairRatios(results, name) {
  const baton = results.mutex.Baton ?? [];
  return (results.mutex[name] ?? []).flatMap((r, i) => (r.failed || !baton[i] || baton[i].failed ? [] : [perSecond(baton[i]) / perSecond(r)]));
}

function mutexTable(backend, results) {
  // Baton's row first, then the peers'.
  const rows = Object.entries(results.mutex).sort(([a], [b]) => Number(b === 'Baton') - Number(a === 'Baton')).map(([name, list]) => {
    const rates = list.map(perSecond);
    const failures = list.filter((r) => r.failed).map((r) => r.failed);
    const lat = list.flatMap((r) => handoffs(r.stamps));
    const failed = list.every((r) => r.extra !== undefined) ? `; ${Math.round(median(list.map((r) => r.extra / r.seconds)))} failed tries/s` : '';
    const requests = list.filter((r) => r.requests !== undefined).map((r) => r.requests);
    const cpu = list.filter((r) => r.cpuUs !== undefined && r.count).map((r) => r.cpuUs / r.count);
    return {
      name,
      median: median(rates),
      text: `| ${libLabel(backend, 'mutex', name)} | **${median(rates)}** | ${rates.join(', ')}${failed}${failures.length ? `; ${failures.length} round(s) gave no figure: ${failures[0]}` : ''} | ${fmtMs(median(lat))} | ${fmtMs(quantile(lat, 0.99))} | ${requests.length ? median(requests).toFixed(2) : '-'} | ${cpu.length ? `${(median(cpu) / 1000).toFixed(2)} ms` : '-'} |`,
    };
  });
  const baton = rows.find((r) => r.name === 'Baton')?.median;
  const ratioLine = (r) => {
    const pairs = pairRatios(results, r.name);
    if (!pairs.length) return `Baton / ${r.name}: no pair of rounds gave figures.`;
    return `Baton / ${r.name}: **${median(pairs).toFixed(2)}x**, the median over ${pairs.length} pairs of rounds run side by side (quartiles ${quantile(pairs, 0.25).toFixed(2)}-${quantile(pairs, 0.75).toFixed(2)}, lowest ${Math.min(...pairs).toFixed(2)}, highest ${Math.max(...pairs).toFixed(2)}); the holds/s medians' ratio ${(baton / r.median).toFixed(2)}x.`;
  };
  return [
    `| library | holds/s (median) | rounds | handoff p50 | handoff p99 | server requests per hold | client CPU per hold |`,
    '|---|---|---|---|---|---|---|',
    ...rows.map((r) => r.text),
    '',
    ...rows.filter((r) => r.name !== 'Baton' && baton).map(ratioLine),
  ].join('\n');
}

function scalingTable(backend, results) {
  const names = Object.keys(results.scaling);
  const header = `| clients | ${names.map((n) => `${n} holds/s (p50 / p99 handoff)`).join(' | ')} |`;
  const rows = clientCounts.map((c) => {
    const cells = names.map((n) => {
      const r = results.scaling[n][c];
      if (!r) return '-';
      const lat = c > 1 ? handoffs(r.stamps) : [];
      if (r.failed) return rateText(r);
      return c > 1 ? `${perSecond(r)} (${fmtMs(median(lat))} / ${fmtMs(quantile(lat, 0.99))})` : `${perSecond(r)}`;
    });
    return `| ${c} | ${cells.join(' | ')} |`;
  });
  const file = `img/bench-${backend}-scaling.svg`;
  writeChart(
    file,
    lineChart({
      title: `${BACKEND_TITLE[backend]}: clients looping on one mutex`,
      xLabel: 'clients (each its own session)',
      yLabel: 'holds per second',
      logX: true,
      series: names.map((n) => ({ name: n, points: clientCounts.filter((c) => results.scaling[n][c]).map((c) => [c, perSecond(results.scaling[n][c])]) })),
    }),
  );
  return [header, `|---|${names.map(() => '---').join('|')}|`, ...rows, '', `![${BACKEND_TITLE[backend]} scaling](${file})`].join('\n');
}

function recipesTable(backend, results) {
  const lines = ['| recipe, 8 clients | library | holds/s | handoff p50 / p99 |', '|---|---|---|---|'];
  const groups = [];
  const mutexMedian = Object.fromEntries(Object.entries(results.mutex).map(([n, list]) => [n, median(list.map(perSecond))]));
  groups.push({ label: 'mutex', bars: Object.entries(mutexMedian).map(([name, value]) => ({ name, value })) });
  const describe = { semaphore: `semaphore, ${permits} permits`, rwlock: 'read-write lock, 1 writer in 4', election: 'election: campaign, resign' };
  for (const [mode, byLib] of Object.entries(results.recipes)) {
    for (const [name, r] of Object.entries(byLib)) {
      const lat = mode === 'election' ? handoffs(r.stamps) : [];
      lines.push(`| ${describe[mode]} | ${libLabel(backend, mode, name)} | ${rateText(r)} | ${mode === 'election' ? `${fmtMs(median(lat))} / ${fmtMs(quantile(lat, 0.99))}` : '-'} |`);
    }
    groups.push({ label: mode === 'rwlock' ? 'read-write lock' : mode, bars: Object.entries(byLib).map(([name, r]) => ({ name, value: perSecond(r) })) });
  }
  const file = `img/bench-${backend}-recipes.svg`;
  writeChart(file, barChart({ title: `${BACKEND_TITLE[backend]}: 8 clients per recipe, holds per second`, unit: '/s', groups }));
  const hung = Object.entries(results.recipes.rwlock ?? {}).some(([name, r]) => name === 'kazoo' && r.failed);
  const note = hung
    ? ["kazoo's read-write lock did not finish: in kazoo 2.8 a reader can end up watching a writer queued after it while that writer watches the reader (python-zk/kazoo#649, fixed in 2.9), so the run deadlocks.", '']
    : [];
  return [...lines, '', ...note, `![${BACKEND_TITLE[backend]} recipes](${file})`].join('\n');
}

function writeChart(file, svg) {
  if (!writeDocs) return;
  mkdirSync(join(DOCS, 'img'), { recursive: true });
  writeFileSync(join(DOCS, file), svg);
  charts.push(file);
}

const command = `node bench/side-by-side.mjs${process.argv.slice(2).length ? ` ${process.argv.slice(2).join(' ')}` : ''}`;
const sections = [
  `Written by \`${command}\`${process.env.npm_lifecycle_event === 'bench' ? ' (run by `npm run bench`)' : ''}, started ${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC; nothing here is edited by hand.`,
  '',
  `Machine: ${versions.cpu}, ${versions.cores} cores (\`nproc\`), ${versions.memoryGiB} GiB memory; load average (1, 5, 15 min) ${load.start.map((l) => l.toFixed(2)).join(', ')} at the start and ${load.end.map((l) => l.toFixed(2)).join(', ')} at the end. The machine also runs the servers and every client, and is shared with other work: compare figures within this run, not across runs.`,
  '',
  `Software: Node ${versions.node}; etcd ${versions.etcd}; ZooKeeper ${versions.zookeeper}; Go ${versions.go} with Debian golang-etcd-server-dev ${versions.goEtcd} (clientv3/concurrency); etcd3 ${versions.etcd3}; node-zookeeper-client ${versions.nodeZookeeperClient}; Java ${versions.java} with Curator ${versions.curator}; Python ${versions.python} with kazoo ${versions.kazoo}.`,
  '',
  `How: fresh servers (one etcd member, one ZooKeeper server, loopback, default settings, fsync on) started by the script. Each library runs as its own process (bench/peers/: \`baton-bench.mjs\`, \`etcd_peer.go\`, \`etcd3-lock.mjs\`, \`CuratorBench.java\`, \`kazoo_bench.py\`), its clients each with their own session, looping acquire -> release with nothing done while holding; on etcd, Baton's clients are coordinators of one process sharing its one connection (one HTTP/2 connection, one watch of the name: docs/etcd.md, "One connection per process"), and Go's sessions likewise share one \`clientv3.Client\`; etcd3's and the ZooKeeper libraries' clients each have their own connection; holds granted in the process's first ${warmup} s are discarded, and a discarded ${MAIN_CLIENTS}-client Baton run warms each server first (${zookeeperWarmup} s on ZooKeeper, whose first seconds run slower while its JVM warms up; 3 s on etcd). Libraries take turns. The ${MAIN_CLIENTS}-client mutex runs in ${rounds} short rounds of ${seconds} s each (after the process's warm-up), Baton's between the peers' so that every peer's round runs right beside one of Baton's, the peers before and after it swapping sides every round; Baton / peer is the median over the rounds of Baton's round over the peer's round beside it, with its quartiles and extremes: the load of a shared machine, and the server's fsync time on its shared disk, move within seconds and hit both rounds of a pair alike, while the holds/s medians of the two libraries may come from rounds far apart. Requests per hold are counted on the ZooKeeper server (its received-packet count, \`srvr\`, read before each peer process starts and after it ends, over every hold the process took: its sessions' connects, pings and closes included); client CPU per hold is the peer process's own CPU time (every thread, over the counted seconds) per counted hold. Handoff latency is the time from one holder's release call to the next holder's grant, both stamped with CLOCK_MONOTONIC (Node's \`process.hrtime.bigint()\`, Go's \`clock_gettime\`, Java's \`System.nanoTime()\`, Python's \`time.monotonic_ns()\`). Every other run takes ${scaleSeconds} s, once per library.`,
];
for (const backend of ['etcd', 'zookeeper']) {
  const results = measured[backend];
  if (!results) continue;
  sections.push('', `### ${BACKEND_TITLE[backend]}: ${MAIN_CLIENTS} clients on one mutex`, '', mutexTable(backend, results));
  if (mutexOnly) continue;
  sections.push('', `### ${BACKEND_TITLE[backend]}: scaling`, '', scalingTable(backend, results));
  sections.push('', `### ${BACKEND_TITLE[backend]}: the other recipes`, '', recipesTable(backend, results));
}
if (uncontended) {
  const { Baton: baton } = uncontended;
  const ms = (x) => `${x.toFixed(3)} (${Math.round(1000 / x)}/s)`;
  const requests = (r, kind) => (r.requests?.[kind] == null ? '-' : r.requests[kind].toFixed(2));
  const CLIENT = { Baton: `node-zookeeper-client ${versions.nodeZookeeperClient}`, Curator: `CuratorFramework ${versions.curator}`, kazoo: `KazooClient ${versions.kazoo}` };
  const LOCK = { Baton: 'Baton `acquire()` + `release()`', Curator: 'Curator InterProcessMutex `acquire()` + `release()`', kazoo: 'kazoo Lock `acquire()` + `release()`' };
  const rows = Object.entries(uncontended).map(([name, r]) =>
    r.failed
      ? `| ${LOCK[name]} | ${CLIENT[name]} | no figure: ${r.failed} | | | |`
      : `| ${LOCK[name]} | ${CLIENT[name]} | ${ms(r.raw)} | ${ms(r.lock)} | **${pairedRatioText(r)}** | ${requests(r, 'raw')} / ${requests(r, 'lock')} |`,
  );
  if (!baton.failed) rows.splice(1, 0, `| Baton \`tryAcquire()\` + \`release()\` | the same | ${ms(baton.raw)} | ${ms(baton.tryAcquire)} | ${pairedRatioText(baton, 'tryAcquire')} | ${requests(baton, 'raw')} / ${requests(baton, 'tryAcquire')} |`);
  // The floor: Baton's requests by hand on its adapter's connection, no recipe (absent from a run
  // of an older helper).
  if (!baton.failed && baton.perRoundMs?.floor) {
    rows.splice(2, 0, `| floor: Baton's requests by hand, no recipe (\`create2\` + child-watching listing in one write, then \`delete\`) | the same, under Baton's supervised connection | ${ms(baton.raw)} | ${ms(baton.floor)} | ${pairedRatioText(baton, 'floor')} | ${requests(baton, 'raw')} / ${requests(baton, 'floor')} |`);
  }
  const perRound = Object.values(uncontended).find((r) => !r.failed);
  sections.push(
    '',
    '### ZooKeeper: uncontended acquire + release',
    '',
    `Each library against its own client's raw pair, on the same server in the same run, one library after another: one client, sequential, ${perRound ? `${perRound.rounds} interleaved rounds of ${perRound.perRound}` : 'interleaved rounds'} (the order alternating, Baton's four kinds rotating) after a warm-up of ${uncontendedIterations} of each; the times are the median of the rounds' mean ms per pair, and "lock / own raw" the median over the rounds of the lock's round over the raw round run beside it (neighbouring rounds run a fraction of a second apart, so the machine's changing load divides out; where the two time columns disagree with it, the load moved during the run). The raw pair is a create (EPHEMERAL_SEQUENTIAL) + delete through the library's own client (Baton: node-zookeeper-client, the client its ZooKeeper backend uses; Curator: \`CuratorFramework\` \`create().withMode(EPHEMERAL_SEQUENTIAL)\` + \`delete()\`; kazoo: \`create(sequence=True, ephemeral=True)\` + \`delete\`). Requests per pair are counted on the server: its received-packet count (\`srvr\`) read before and after each timed round. The floor row sends exactly the requests of Baton's uncontended pair by hand, through the connection Baton's adapter uses (node-zookeeper-client, with the adapter's own framing of \`create2\`, \`getChildren2\` and \`delete\`, its own reading of their answers and of the notifications, and its supervision of every request), with no recipe: Baton's row above the floor is Baton's own work, the floor above the raw pair what those requests cost.`,
    '',
    '| lock | client | raw create + delete, ms per pair | lock acquire + release, ms per pair | lock / own raw (quartiles over the rounds) | requests per pair (raw / lock) |',
    '|---|---|---|---|---|---|',
    ...rows,
    '',
    "What each lock does per uncontended pair (the requests column counts them): Baton sends the create (`create2`) and a listing of the name's children in one write, one round trip, the listing leaving a child watch armed on the name while it holds, so that its key deleted under the hold is reported at once; then the delete. Curator's InterProcessMutex creates a protected node (its name prefixed with a GUID, so that a create whose answer is lost can be found again) under the lock path, lists the children to learn it is first, then deletes it: three requests, three round trips, and no watch while holding. kazoo's Lock does the same with one more listing before the create: from the second acquire on, kazoo 2.8 first lists the children looking for a node of its own left by an earlier try (its `create_tried` flag is never reset), so four requests, four round trips, and no watch while holding.",
  );
}
const report = sections.join('\n');
console.log(`\n${report}`);
if (writeDocs) {
  writeSection('Side by side with the peers', report);
  console.log(`\nwrote docs/benchmarks.md ("Side by side with the peers") and ${charts.map((c) => `docs/${c}`).join(', ')}`);
}
