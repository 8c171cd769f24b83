// The etcd transport's cost per call: a raw put + delete of one key with Baton's own client (gRPC
// framed by hand over node:http2) against the same with the etcd3 package (grpc-js), and Baton's
// uncontended acquire + release against the own client's raw put + delete; one fresh etcd member,
// one run, interleaved in rounds after a discarded warm-up. Between the raw pair and Baton's row,
// steps sent by hand on the own client, each adding one part of the server's work to the step it
// builds on (a lease on the key, the acquire's guarded create, the release's guarded delete, the
// count of the name's keys, the name's watch), and two other shapes of the acquire's transaction
// for the same answer: where the time between the raw pair and Baton goes. Each row reports wall
// time per pair, this process's CPU time per pair (the client's own work, which a shared machine
// disturbs less than wall time), and from etcd's /metrics its CPU time, WAL fsyncs and requests per
// pair; the requests an acquire and a release send are counted. In each round, Go's own client
// (bench/peers/etcd_peer.go, built from Debian's Go and etcd sources) measures the same two pairs
// its own way on the same server: clientv3's raw Put + Delete against concurrency.Mutex's Lock +
// Unlock, for Go's own ratio beside Baton's.
// Writes the "etcd transport" section of docs/benchmarks.md (unless --no-docs).
//
//   npm run build && node bench/etcd-transport.mjs [--iterations 2000] [--rounds 3] [--no-docs]
import { createHook } from 'node:async_hooks';
import { loadavg } from 'node:os';
import { Etcd3 } from 'etcd3';
import { connect } from '../dist/index.js';
import { backendOf } from '../dist/testing.js';
import { EtcdClient } from '../dist/backends/etcd/transport/client.js';
import { KeySpace, rangeEnd } from '../dist/backends/etcd/keys.js';
import { ProtoWriter } from '../dist/backends/etcd/transport/codec.js';
import { encodePut, encodeTxn } from '../dist/backends/etcd/transport/messages.js';
import { debianVersion, jsonResult, versionOf, writeSection } from './common.mjs';
import { arg, buildGoPeer, etcdServer, flag, machine } from './etcd-common.mjs';

const iterations = arg('iterations', 2000);
const rounds = arg('rounds', 3);
const loadAtStart = loadavg().map((l) => l.toFixed(1)).join(' ');

/** Where etcd's own metrics are read (its client URL's /metrics), once the server is up. */
let metricsUrl;

/**
 * The counters of etcd's /metrics that say what the server did: its process CPU time, the WAL
 * fsyncs (one per committed batch of writes) and their time, the unary requests it answered by
 * method, and the messages it sent on watch streams. Undefined when the metrics cannot be read.
 */
async function serverCounters() {
  if (!metricsUrl) return undefined;
  let text;
  try {
    text = await (await fetch(metricsUrl)).text();
  } catch {
    return undefined;
  }
  const counters = { cpu: 0, fsyncs: 0, fsyncSeconds: 0, watchMessages: 0, requests: {} };
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (line.startsWith('process_cpu_seconds_total ')) counters.cpu = value;
    else if (line.startsWith('etcd_disk_wal_fsync_duration_seconds_count ')) counters.fsyncs = value;
    else if (line.startsWith('etcd_disk_wal_fsync_duration_seconds_sum ')) counters.fsyncSeconds = value;
    else if (line.startsWith('grpc_server_msg_sent_total{') && line.includes('grpc_method="Watch"')) counters.watchMessages += value;
    else if (line.startsWith('grpc_server_handled_total{') && line.includes('grpc_type="unary"') && value > 0) {
      const method = /grpc_method="([^"]+)"/.exec(line)?.[1];
      if (method) counters.requests[method] = (counters.requests[method] ?? 0) + value;
    }
  }
  return counters;
}

/** What the server did per pair between two readings of its counters. */
function serverPerPair(before, after) {
  if (!before || !after) return undefined;
  const requests = {};
  for (const [method, n] of Object.entries(after.requests)) {
    const delta = n - (before.requests[method] ?? 0);
    if (delta > 0) requests[method] = delta / iterations;
  }
  return {
    cpu: ((after.cpu - before.cpu) * 1000) / iterations,
    fsyncs: (after.fsyncs - before.fsyncs) / iterations,
    fsyncMs: ((after.fsyncSeconds - before.fsyncSeconds) * 1000) / iterations,
    watchMessages: (after.watchMessages - before.watchMessages) / iterations,
    requests,
  };
}

/**
 * Wall and CPU milliseconds per call of `fn` after a warm-up, and what the server did per call
 * (its counters are read before and after the timed calls, outside them).
 */
async function time(label, fn) {
  for (let i = 0; i < Math.min(200, iterations); i++) await fn(); // warm-up
  const serverBefore = await serverCounters();
  const cpuBefore = process.cpuUsage();
  const start = performance.now();
  for (let i = 0; i < iterations; i++) await fn();
  const ms = (performance.now() - start) / iterations;
  const used = process.cpuUsage(cpuBefore);
  const cpu = (used.user + used.system) / 1000 / iterations;
  const server = serverPerPair(serverBefore, await serverCounters());
  const onServer = server ? `, etcd CPU ${server.cpu.toFixed(3)} ms, ${server.fsyncs.toFixed(2)} fsyncs (${server.fsyncMs.toFixed(3)} ms)` : '';
  console.log(`${label.padEnd(48)} ${ms.toFixed(3)} ms per pair (${(1000 / ms).toFixed(0)}/s), client CPU ${cpu.toFixed(3)} ms${onServer}`);
  return { ms, cpu, server };
}

async function withEtcd3(endpoints) {
  const client = new Etcd3({ hosts: endpoints.map((e) => `http://${e}`) });
  const key = Buffer.from(`bench/transport-etcd3-${process.pid}`);
  const empty = Buffer.alloc(0);
  try {
    return await time('raw put + delete (etcd3 package)', async () => {
      await client.kv.put({ key, value: empty });
      await client.kv.deleteRange({ key });
    });
  } finally {
    client.close();
  }
}

async function withOwnClient(endpoints, measure = time) {
  const client = new EtcdClient({ endpoints, https: false });
  const key = Buffer.from(`bench/transport-own-${process.pid}`);
  try {
    return await measure("raw put + delete (Baton's transport)", async () => {
      await client.put({ key, value: '' });
      await client.deleteRange({ key });
    });
  } finally {
    client.close();
  }
}

/**
 * The acquire's transaction in another shape for the same answer, with no read in the
 * uncontended case: if no key exists under the prefix (a Compare over the prefix's range, etcd
 * 3.3+), create the own key, and success alone says it is first; else the transaction as the
 * adapter sends it, nested (create if absent, count). etcd evaluates a Compare over a range by
 * reading every key in it (mvcc Range with no limit), so a contended enqueue would read the
 * whole queue: measured here for the uncontended case only.
 */
function emptyPrefixTxn(create, start) {
  const compare = new ProtoWriter().int(2, 1).bytes(3, start).intAlways(5, 0n).bytes(64, rangeEnd(start)).finish(); // CREATE = 0 over [start, end)
  const put = new ProtoWriter().message(2, encodePut(create.success[0].put)).finish();
  const nested = new ProtoWriter().message(4, encodeTxn(create)).finish();
  return new ProtoWriter().message(1, compare).message(2, put).message(3, nested).finish();
}

/**
 * The server's part of an uncontended acquire + release, taken apart: each step below adds one
 * thing to the pair before it, on Baton's own client, with no recipe. A lease is attached to the
 * key (leased); the put becomes the acquire's transaction, guarded by its compare, without the
 * count (guarded create); the delete becomes the release's guarded one (both guarded); the count
 * of the name's keys joins the create (the two transactions, no watch); a watch on the name
 * receives their events (the two transactions as the adapter sends them: the floor of Baton's row).
 */
async function byHand(endpoints, label, { lease: leased = false, createTxn = false, guardedDelete = false, count = false, shape = 'count', watch = false }, measure = time) {
  const client = new EtcdClient({ endpoints, https: false });
  const keys = new KeySpace('');
  const prefix = `bench/transport-steps-${process.pid}`;
  const lease = leased ? (await client.leaseGrant(600)).id : undefined;
  const full = keys.full(`${prefix}/${(lease ?? 1n).toString(16)}`);
  const start = keys.full(`${prefix}/`);
  let events = 0;
  const watching = watch ? client.watches.watch(start, rangeEnd(start), { created() {}, events: (list) => (events += list.length), restarting() {}, refused() {} }) : undefined;
  const putOwn = { put: { key: full, value: '', lease } };
  const reads = { count: { range: { ...keys.range(prefix), countOnly: true } }, head: { range: { ...keys.range(prefix), sortByCreate: 'ascend', limit: 1 } } };
  const create = {
    compare: [{ key: full, target: 'create', result: 'equal', value: 0n }],
    success: count ? [putOwn, reads[shape] ?? reads.count] : [putOwn],
    failure: [{ range: { key: full } }],
  };
  const body = shape === 'emptyPrefix' ? emptyPrefixTxn(create, start) : encodeTxn(create);
  // The first answer is checked: the transaction created the key and says it is first.
  let checked = !createTxn;
  const put = async () => {
    if (!createTxn) return (await client.put({ key: full, value: '', lease })).header.revision;
    const res = await client.txnEncoded(body);
    if (!checked) {
      const read = res.responses[1]?.range;
      const first = !count || shape === 'emptyPrefix' ? res.succeeded : shape === 'head' ? read?.kvs[0]?.key.equals(full) : read?.count === 1n;
      if (!res.succeeded || !first) throw new Error(`${label}: the create did not answer "created, first"`);
      checked = true;
    }
    return res.header.revision;
  };
  const remove = guardedDelete
    ? (revision) => client.txn({ compare: [{ key: full, target: 'create', result: 'equal', value: revision }], success: [{ deleteRange: { key: full } }] })
    : () => client.deleteRange({ key: full });
  try {
    return await measure(label, async () => {
      await remove(await put());
    });
  } finally {
    if (watch && events === 0) console.log('(the watch saw no event: the row is not the floor it claims to be)');
    watching?.cancel();
    if (lease !== undefined) await client.leaseRevoke(lease).catch(() => {});
    client.close();
  }
}

async function withBaton(endpoints, measure = time) {
  const coord = await connect({ backend: 'etcd', endpoints });
  const mutex = coord.mutex(`bench/transport-baton-${process.pid}`);
  try {
    return await measure('Baton acquire + release', async () => {
      const lease = await mutex.acquire();
      await lease.release();
    });
  } finally {
    await coord.close();
  }
}

/** The requests one uncontended acquire and one release send, once the name's watch exists. */
async function roundTrips(endpoints) {
  const coord = await connect({ backend: 'etcd', endpoints });
  const pool = backendOf(coord).client.pool;
  const mutex = coord.mutex(`bench/transport-count-${process.pid}`);
  try {
    await (await mutex.acquire()).release(); // creates the name's watch
    const sent = [];
    pool.onCall = (method) => sent.push(method.split('/').pop());
    const lease = await mutex.acquire();
    const acquire = sent.splice(0);
    await lease.release();
    return { acquire, release: sent.splice(0) };
  } finally {
    pool.onCall = undefined;
    await coord.close();
  }
}

/**
 * The client's own objects per pair, counted (not timed, so a loaded machine does not blur them):
 * the promises made (an async_hooks hook, on only while counting) and the AbortControllers (the
 * class replaced while counting), for the raw pair, the floor (the two transactions by hand with
 * the name's watch) and Baton, each over 200 pairs after a warm-up.
 */
async function clientObjects(endpoints) {
  const counted = { promises: 0, controllers: 0 };
  let on = false;
  const hook = createHook({
    init(_id, type) {
      if (on && type === 'PROMISE') counted.promises++;
    },
  });
  const Original = globalThis.AbortController;
  globalThis.AbortController = class extends Original {
    constructor() {
      super();
      if (on) counted.controllers++;
    }
  };
  const pairs = 200;
  const count = async (_label, fn) => {
    for (let i = 0; i < 50; i++) await fn();
    counted.promises = 0;
    counted.controllers = 0;
    hook.enable();
    on = true;
    for (let i = 0; i < pairs; i++) await fn();
    on = false;
    hook.disable();
    return { promises: counted.promises / pairs, controllers: counted.controllers / pairs };
  };
  try {
    return {
      own: await withOwnClient(endpoints, count),
      txns: await byHand(endpoints, 'floor', { lease: true, createTxn: true, guardedDelete: true, count: true, watch: true }, count),
      baton: await withBaton(endpoints, count),
    };
  } finally {
    globalThis.AbortController = Original;
  }
}

/**
 * The rows, in the order they run in each round. Each step of the breakdown names the row it
 * builds on (`base`) and adds one thing to it; two rows try other shapes of the acquire's
 * transaction for the same answer.
 */
const ROWS = [
  { id: 'etcd3', label: (facts) => `raw put + delete, etcd3 ${facts.etcd3} (grpc-js)`, run: withEtcd3 },
  { id: 'own', label: () => "raw put + delete, Baton's transport (gRPC over node:http2)", run: withOwnClient },
  { id: 'leased', base: 'own', label: () => 'put with the lease attached + delete', run: (e) => byHand(e, 'put with a lease + delete', { lease: true }) },
  {
    id: 'guardedCreate',
    base: 'leased',
    label: () => "the acquire's guarded create (Txn: compare, put with the lease; no count) + delete",
    run: (e) => byHand(e, 'guarded create Txn + delete', { lease: true, createTxn: true }),
  },
  {
    id: 'guarded',
    base: 'guardedCreate',
    label: () => "guarded create + the release's guarded delete (Txn: compare, delete)",
    run: (e) => byHand(e, 'guarded create Txn + guarded delete Txn', { lease: true, createTxn: true, guardedDelete: true }),
  },
  {
    id: 'txnsNoWatch',
    base: 'guarded',
    label: () => "the two transactions as the adapter sends them (the create also counts the name's keys), no watch",
    run: (e) => byHand(e, 'the two transactions, no watch', { lease: true, createTxn: true, guardedDelete: true, count: true }),
  },
  {
    id: 'txnsHead',
    base: 'txnsNoWatch',
    label: () => "the two transactions, no watch, the count replaced by the oldest key (a range sorted by creation, limit 1: Go's shape)",
    run: (e) => byHand(e, 'the two transactions, head range, no watch', { lease: true, createTxn: true, guardedDelete: true, count: true, shape: 'head' }),
  },
  {
    id: 'txnsEmptyPrefix',
    base: 'txnsNoWatch',
    label: () => 'the two transactions, no watch, the count replaced by a Compare over the prefix (empty: create; else a nested transaction)',
    run: (e) => byHand(e, 'the two transactions, empty-prefix compare, no watch', { lease: true, createTxn: true, guardedDelete: true, count: true, shape: 'emptyPrefix' }),
  },
  {
    id: 'txns',
    base: 'txnsNoWatch',
    label: () => "the two transactions with the name's watch open: what the adapter sends, by hand, no recipe",
    run: (e) => byHand(e, 'the two transactions, watch on the name', { lease: true, createTxn: true, guardedDelete: true, count: true, watch: true }),
  },
  { id: 'baton', base: 'txns', label: () => 'Baton acquire + release', run: withBaton },
];

/** Go's clientv3 and concurrency.Mutex, built for this run; undefined once it cannot be built or run (goMissing says why). */
let goBinary;
let goMissing;
try {
  goBinary = buildGoPeer();
} catch (error) {
  goMissing = String(error.stderr || error.message).trim().split('\n').slice(0, 3).join(' ');
  console.log(`Go's client not measured: ${goMissing}`);
}

/** Runs Go's raw Put + Delete and Mutex Lock + Unlock in its own process and keeps { raw, lock, rounds, perRound }. */
function withGo(endpoints, round) {
  try {
    const result = jsonResult(goBinary, [endpoints.join(','), 'uncontended', `bench/transport-go-${process.pid}-${round}`, String(iterations)]);
    console.log(`${"Go's clientv3 raw Put + Delete".padEnd(48)} ${result.raw.toFixed(3)} ms per pair; Mutex Lock + Unlock ${result.lock.toFixed(3)} ms: ${(result.lock / result.raw).toFixed(2)}x`);
    goRuns.push(result);
  } catch (error) {
    // Go's rows would no longer line up with the rounds: none are shown, and the report says why.
    goMissing = String(error.stderr || error.message).trim().split('\n').slice(-2).join(' | ');
    console.log(`Go's client not measured: ${goMissing}`);
    goBinary = undefined;
    goRuns.length = 0;
  }
}

const server = await etcdServer();
metricsUrl = `http://${server.endpoints[0]}/metrics`;
const runs = Object.fromEntries(ROWS.map((row) => [row.id, []]));
const goRuns = [];
let trips;
let objects;
try {
  trips = await roundTrips(server.endpoints);
  console.log(`requests: acquire ${trips.acquire.join(', ')}; release ${trips.release.join(', ')}`);
  objects = await clientObjects(server.endpoints);
  console.log(`client objects per pair: ${Object.entries(objects).map(([id, o]) => `${id} ${o.promises} promises, ${o.controllers} AbortControllers`).join('; ')}`);
  await withOwnClient(server.endpoints); // discarded warm-up (JIT, server caches)
  for (let round = 0; round < rounds; round++) {
    for (const row of ROWS) runs[row.id].push(await row.run(server.endpoints));
    if (goBinary) withGo(server.endpoints, round);
  }
} finally {
  await server.stop();
}

const sum = (list, field) => list.reduce((a, b) => a + b[field], 0);
const mean = (list, field) => sum(list, field) / list.length;
const ratio = (a, b, field = 'ms') => sum(a, field) / sum(b, field);
const ownVsEtcd3 = ratio(runs.own, runs.etcd3);
const batonVsOwn = ratio(runs.baton, runs.own);
const txnsVsOwn = ratio(runs.txns, runs.own);
console.log(`own transport / etcd3: ${ownVsEtcd3.toFixed(2)} (target <= 0.65); Baton / own raw: ${batonVsOwn.toFixed(2)} (target <= 1.15); the two transactions by hand / own raw: ${txnsVsOwn.toFixed(2)}`);
const loadAtEnd = loadavg().map((l) => l.toFixed(1)).join(' ');
if (goRuns.length) console.log(`Go's Mutex / Go's raw: ${(sum(goRuns, 'lock') / sum(goRuns, 'raw')).toFixed(2)}; Baton / own raw: ${batonVsOwn.toFixed(2)}`);
console.log(`load average (1, 5, 15 min): ${loadAtStart} at the start, ${loadAtEnd} at the end`);

/** The server's counters per pair, averaged over the rounds; undefined when they could not be read. */
function serverMean(list) {
  const readings = list.map((r) => r.server).filter(Boolean);
  if (readings.length !== list.length) return undefined;
  const methods = new Set(readings.flatMap((r) => Object.keys(r.requests)));
  const requests = [...methods].sort().map((method) => `${(readings.reduce((a, r) => a + (r.requests[method] ?? 0), 0) / readings.length).toFixed(2)} ${method}`);
  return {
    cpu: mean(readings, 'cpu'),
    fsyncs: mean(readings, 'fsyncs'),
    fsyncMs: mean(readings, 'fsyncMs'),
    watchMessages: mean(readings, 'watchMessages'),
    requests: requests.join(', '),
  };
}

const facts = machine(server.version);
const row = (label, list) => `| ${label} | ${list.map((r) => `${r.ms.toFixed(3)} (${r.cpu.toFixed(3)})`).join(' | ')} |`;
const ownMs = mean(runs.own, 'ms');
const numbered = ROWS.slice(1);
const stepOf = (id) => numbered.findIndex((r) => r.id === id) + 1;
const breakdown = numbered.map((r, i) => {
  const list = runs[r.id];
  const previous = r.base && runs[r.base];
  const ms = mean(list, 'ms');
  const onServer = serverMean(list);
  const delta = (field, pick = (l) => mean(l, field)) => {
    const d = pick(list) - pick(previous);
    return `${d >= 0 ? '+' : ''}${d.toFixed(3)}`;
  };
  const serverCpu = (l) => serverMean(l)?.cpu ?? NaN;
  const cells = [
    `${i + 1}. ${r.label(facts)}`,
    ms.toFixed(3),
    `${(ms / ownMs).toFixed(2)}x`,
    mean(list, 'cpu').toFixed(3),
    onServer ? onServer.cpu.toFixed(3) : '-',
    onServer ? `${onServer.fsyncs.toFixed(2)} (${onServer.fsyncMs.toFixed(3)} ms)` : '-',
    onServer ? onServer.requests : '-',
    onServer ? onServer.watchMessages.toFixed(2) : '-',
    previous ? `${stepOf(r.base)}: ${delta('ms')} / ${delta('cpu')} / ${onServer ? delta('cpu', serverCpu) : '-'}` : '',
  ];
  return `| ${cells.join(' | ')} |`;
});
/** The gap between the raw pair and Baton, split at the floor (the two transactions by hand, watch open). */
const gap = (() => {
  const m = (id, field) => mean(runs[id], field);
  const server = (id, field) => {
    const onServer = serverMean(runs[id]);
    return onServer ? onServer[field] : NaN;
  };
  const fsyncMs = ROWS.slice(1).map((r) => server(r.id, 'fsyncMs'));
  return {
    total: m('baton', 'ms') - m('own', 'ms'),
    floor: m('txns', 'ms') - m('own', 'ms'),
    client: m('baton', 'ms') - m('txns', 'ms'),
    floorClientCpu: m('txns', 'cpu') - m('own', 'cpu'),
    floorServerCpu: server('txns', 'cpu') - server('own', 'cpu'),
    batonClientCpu: m('baton', 'cpu') - m('txns', 'cpu'),
    fsyncs: [...new Set(ROWS.slice(1).map((r) => server(r.id, 'fsyncs').toFixed(2)))].join(', '),
    fsyncLow: Math.min(...fsyncMs),
    fsyncHigh: Math.max(...fsyncMs),
  };
})();
const floorRatio = txnsVsOwn;
/** Client and etcd CPU per pair of a row, over the rounds. */
const cpuOf = (id) => mean(runs[id], 'cpu') + (serverMean(runs[id])?.cpu ?? NaN);
const floorCpu = cpuOf('txns') / cpuOf('own');
const batonCpu = cpuOf('baton') / cpuOf('own');
const verdict =
  floorRatio > 1.15
    ? 'above the 1.15x target before Baton does any work of its own, so no client-side cut can meet it with this protocol'
    : floorCpu > 1.15
      ? 'within the 1.15x target in wall time on this run but not in CPU time; on a loaded machine both pairs wait (fsyncs, the scheduler) for time neither spends working, which draws wall-time ratios towards 1'
      : 'within the 1.15x target, so what stands between Baton and it is client-side work';
const gapLine = Number.isNaN(gap.floorServerCpu)
  ? ''
  : `Baton's row is ${gap.total.toFixed(3)} ms per pair above the raw pair: ${gap.floor.toFixed(3)} ms of it is already in step ${stepOf('txns')} (the protocol's own floor: the two transactions, the lease and the name's watch, sent by hand; etcd CPU ${gap.floorServerCpu >= 0 ? '+' : ''}${gap.floorServerCpu.toFixed(3)} ms and client CPU ${gap.floorClientCpu >= 0 ? '+' : ''}${gap.floorClientCpu.toFixed(3)} ms per pair over the raw pair), and ${gap.client.toFixed(3)} ms is Baton's own client-side work above that floor (client CPU ${gap.batonClientCpu >= 0 ? '+' : ''}${gap.batonClientCpu.toFixed(3)} ms per pair: the recipe, the watched view, the own-key watch, the guaranteed removal, the hold). The floor alone is **${floorRatio.toFixed(2)}x** the raw pair in wall time and ${floorCpu.toFixed(2)}x in CPU time (client and etcd together, per pair: the work the machine must do, which load blurs less), Baton ${batonCpu.toFixed(2)}x: ${verdict}. WAL fsyncs per pair: ${gap.fsyncs} in every row (the transactions write nothing more to disk than the raw pair); their time per pair ranged ${gap.fsyncLow.toFixed(3)}-${gap.fsyncHigh.toFixed(3)} ms between the cells of this run (a shared disk), and wall times move with it: the CPU columns compare steps more steadily.`;
const shapeDelta = (id) => {
  const d = (serverMean(runs[id])?.cpu ?? NaN) - (serverMean(runs.txnsNoWatch)?.cpu ?? NaN);
  return `${d >= 0 ? '+' : ''}${d.toFixed(3)}`;
};
const shapesLine = Number.isNaN(gap.floorServerCpu)
  ? ''
  : `Other shapes of the acquire's transaction for the same answer, against step ${stepOf('txnsNoWatch')}: the oldest key (a range sorted by creation, limit 1, as Go's \`concurrency.Mutex\` reads it) etcd CPU ${shapeDelta('txnsHead')} ms per pair; a Compare over the prefix's range (nothing under the name: create, and success says first; else the same transaction nested) ${shapeDelta('txnsEmptyPrefix')} ms. Neither is taken: with others queued, etcd sorts the whole prefix for the first and reads every key under it for the second (a Compare over a range reads all of it, etcd 3.4 \`applyCompare\`), where the count walks only the index.`;
/** Go's rows beside Baton's: each library's lock against its own client's raw pair, per round. */
const goSection = (() => {
  if (!goBinary) return ['', `Go's own client was not measured: ${goMissing}`];
  const goRatio = sum(goRuns, 'lock') / sum(goRuns, 'raw');
  const cells = (f) => goRuns.map((r, i) => f(r, i));
  const version = `Go ${versionOf('go', ['version'], /go version go(\S+)/)} with Debian golang-etcd-server-dev ${debianVersion('golang-etcd-server-dev')}`;
  return [
    '',
    "### Go's own client on the same server",
    '',
    `In each round, after Baton's rows, Go's own client measures the same two pairs in its own process on the same etcd (bench/peers/etcd_peer.go, ${version}): clientv3's raw Put + Delete of one key, and \`concurrency.Mutex\`'s Lock + Unlock on one session; ${goRuns[0]?.perRound * goRuns[0]?.rounds} of each as a warm-up, then ${goRuns[0]?.rounds} interleaved rounds of ${goRuns[0]?.perRound} (the order alternating), the median of their mean per pair. Wall milliseconds per pair; each library's lock is set against its own client's raw pair.`,
    '',
    `| operation | ${goRuns.map((_, i) => `round ${i + 1}`).join(' | ')} | over the rounds |`,
    `|---|${goRuns.map(() => '---|').join('')}---|`,
    `| Go clientv3 raw Put + Delete | ${cells((r) => r.raw.toFixed(3)).join(' | ')} | ${mean(goRuns, 'raw').toFixed(3)} |`,
    `| Go \`concurrency.Mutex\` Lock + Unlock | ${cells((r) => r.lock.toFixed(3)).join(' | ')} | ${mean(goRuns, 'lock').toFixed(3)} |`,
    `| Go: Mutex / its own raw pair | ${cells((r) => `${(r.lock / r.raw).toFixed(2)}x`).join(' | ')} | **${goRatio.toFixed(2)}x** |`,
    `| Baton: acquire + release / its own raw pair (the rows above) | ${cells((_, i) => `${(runs.baton[i].ms / runs.own[i].ms).toFixed(2)}x`).join(' | ')} | **${batonVsOwn.toFixed(2)}x** |`,
    '',
    "Per pair both locks send two requests: Go's Lock one Txn (create its key under the prefix with the session's lease if absent, and read the prefix's oldest key), its Unlock one DeleteRange (etcd 3.4 `clientv3/concurrency/mutex.go`); Baton's counted above. But Go's Lock opens no watch on its key: it watches only while waiting, for the keys ahead of it, so a deletion of its key under the hold is not reported to the holder. Baton keeps the name's watch open while holding and reports such a deletion at once: part of what its ratio pays for.",
  ];
})();
const report = [
  `\`npm run build && node bench/etcd-transport.mjs --iterations ${iterations} --rounds ${rounds}\`, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC: one fresh etcd ${facts.etcd} member on loopback (default settings, data on the temp dir), one client process; each cell is ${iterations} sequential pairs after a warm-up, the ${ROWS.length} rows interleaved in ${rounds} rounds in one run, after a discarded warm-up run. Wall milliseconds per pair, and in brackets this process's CPU milliseconds per pair.`,
  '',
  `| operation | ${runs.own.map((_, i) => `round ${i + 1}`).join(' | ')} |`,
  `|---|${runs.own.map(() => '---|').join('')}`,
  ...ROWS.map((r) => row(r.label(facts), runs[r.id])),
  '',
  `Requests, counted: an uncontended acquire sends ${trips.acquire.length} (${trips.acquire.join(', ')}: create the own key if absent and count the name's keys, in one transaction: a count of 1 says the key is first), a release ${trips.release.length} (${trips.release.join(', ')}: delete the own key if its create revision is still the token). The name's watch is created once and kept.`,
  '',
  ...goSection,
  '',
  `### Where the time goes`,
  '',
  `The rows of Baton's transport again, each step adding one thing to the step it builds on (or trying another shape of it), means over the rounds. Per pair: wall time; this process's CPU time (the client's work); etcd's CPU time, WAL fsyncs and the time they took, the unary requests it answered and the messages it sent on watch streams, from the difference of etcd's own counters at its /metrics (\`process_cpu_seconds_total\`, 10 ms ticks, \`etcd_disk_wal_fsync_duration_seconds\`, \`grpc_server_handled_total\`, \`grpc_server_msg_sent_total\`) read before and after each cell. Baton's row also holds its session's keep-alives.`,
  '',
  `| step | wall ms | / raw | client CPU ms | etcd CPU ms | WAL fsyncs (time) | requests | watch messages | on step: added wall / client CPU / etcd CPU ms |`,
  `|---|---|---|---|---|---|---|---|---|`,
  ...breakdown,
  '',
  gapLine,
  '',
  `The client's own objects per pair, counted over 200 pairs (not timed): the raw pair makes ${objects.own.promises.toFixed(0)} promises and ${objects.own.controllers.toFixed(0)} AbortControllers, the floor (step ${stepOf('txns')}) ${objects.txns.promises.toFixed(0)} and ${objects.txns.controllers.toFixed(0)}, Baton ${objects.baton.promises.toFixed(0)} and ${objects.baton.controllers.toFixed(0)}${objects.baton.controllers > 0 ? ' (the acquire\'s wait signal)' : ''}.`,
  '',
  shapesLine,
  '',
  `Wall time: own transport / etcd3 **${ownVsEtcd3.toFixed(2)}** (target <= 0.65); Baton acquire + release / own raw put + delete **${batonVsOwn.toFixed(2)}** (target <= 1.15); the two transactions by hand / own raw put + delete ${txnsVsOwn.toFixed(2)}. Client CPU: own / etcd3 ${ratio(runs.own, runs.etcd3, 'cpu').toFixed(2)}; Baton / own raw ${ratio(runs.baton, runs.own, 'cpu').toFixed(2)}; Baton / the two transactions by hand ${ratio(runs.baton, runs.txns, 'cpu').toFixed(2)}.`,
  '',
  `Machine: ${facts.nproc} CPUs (\`nproc\`), ${facts.cpu}; Node ${facts.node}; etcd ${facts.etcd}. Load average (1, 5, 15 min) ${loadAtStart} at the start and ${loadAtEnd} at the end: the machine is shared, and a load above its ${facts.nproc} CPUs stretches wall times (and the ratios) from run to run.`,
].join('\n');
console.log(`\n${report}`);
if (!flag('no-docs')) {
  writeSection('etcd transport', report);
  console.log('\nwrote docs/benchmarks.md ("etcd transport")');
}
