// The etcd transport's cost per call: a raw put + delete of one key with Baton's own client (gRPC
// framed by hand over node:http2) against the same with the etcd3 package (grpc-js), and Baton's
// uncontended acquire + release against the own client's raw put + delete; one fresh etcd member,
// one run, interleaved in rounds after a discarded warm-up. A fourth row sends the two
// transactions an acquire and a release send, by hand on the own client with a watch on the name,
// and no recipe: the floor for Baton's row, which what lies between it and the raw pair is the
// server's (transactions, lease, watch events) and what lies above it the client-side work. Each
// row reports wall time per pair and this process's CPU time per pair (the client's own work,
// which a shared machine disturbs less than wall time), and the requests an acquire and a release
// send are counted.
// Writes the "etcd transport" section of docs/benchmarks.md (unless --no-docs).
//
//   npm run build && node bench/etcd-transport.mjs [--iterations 2000] [--rounds 3] [--no-docs]
import { loadavg } from 'node:os';
import { Etcd3 } from 'etcd3';
import { connect } from '../dist/index.js';
import { backendOf } from '../dist/testing.js';
import { EtcdClient } from '../dist/backends/etcd/transport/client.js';
import { KeySpace, rangeEnd } from '../dist/backends/etcd/keys.js';
import { writeSection } from './common.mjs';
import { arg, etcdServer, flag, machine } from './etcd-common.mjs';

const iterations = arg('iterations', 2000);
const rounds = arg('rounds', 3);
const loadAtStart = loadavg().map((l) => l.toFixed(1)).join(' ');

/** Wall and CPU milliseconds per call of `fn`, after a warm-up. */
async function time(label, fn) {
  for (let i = 0; i < Math.min(200, iterations); i++) await fn(); // warm-up
  const cpuBefore = process.cpuUsage();
  const start = performance.now();
  for (let i = 0; i < iterations; i++) await fn();
  const ms = (performance.now() - start) / iterations;
  const used = process.cpuUsage(cpuBefore);
  const cpu = (used.user + used.system) / 1000 / iterations;
  console.log(`${label.padEnd(40)} ${ms.toFixed(3)} ms per pair (${(1000 / ms).toFixed(0)}/s), client CPU ${cpu.toFixed(3)} ms`);
  return { ms, cpu };
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

async function withOwnClient(endpoints) {
  const client = new EtcdClient({ endpoints, https: false });
  const key = Buffer.from(`bench/transport-own-${process.pid}`);
  try {
    return await time("raw put + delete (Baton's transport)", async () => {
      await client.put({ key, value: '' });
      await client.deleteRange({ key });
    });
  } finally {
    client.close();
  }
}

/**
 * The transactions of an uncontended acquire and its release, as the adapter builds them (create
 * the own key under the lease if absent and count the name's keys; delete it if
 * its create revision is the token), with a watch on the name receiving their events.
 */
async function withTransactions(endpoints) {
  const client = new EtcdClient({ endpoints, https: false });
  const keys = new KeySpace('');
  const prefix = `bench/transport-txn-${process.pid}`;
  const { id: lease } = await client.leaseGrant(60);
  const full = keys.full(`${prefix}/${lease.toString(16)}`);
  const start = keys.full(`${prefix}/`);
  let events = 0;
  const watch = client.watches.watch(start, rangeEnd(start), { created() {}, events: (list) => (events += list.length), restarting() {}, refused() {} });
  try {
    return await time('the same two transactions by hand', async () => {
      const created = await client.txn({
        compare: [{ key: full, target: 'create', result: 'equal', value: 0n }],
        success: [{ put: { key: full, value: '', lease } }, { range: { ...keys.range(prefix), countOnly: true } }],
        failure: [{ range: { key: full } }],
      });
      await client.txn({ compare: [{ key: full, target: 'create', result: 'equal', value: created.header.revision }], success: [{ deleteRange: { key: full } }] });
    });
  } finally {
    if (events === 0) console.log('(the watch saw no event: the row is not the floor it claims to be)');
    watch.cancel();
    await client.leaseRevoke(lease).catch(() => {});
    client.close();
  }
}

async function withBaton(endpoints) {
  const coord = await connect({ backend: 'etcd', endpoints });
  const mutex = coord.mutex(`bench/transport-baton-${process.pid}`);
  try {
    return await time('Baton acquire + release', async () => {
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

const server = await etcdServer();
const runs = { etcd3: [], own: [], txns: [], baton: [] };
let trips;
try {
  trips = await roundTrips(server.endpoints);
  console.log(`requests: acquire ${trips.acquire.join(', ')}; release ${trips.release.join(', ')}`);
  await withOwnClient(server.endpoints); // discarded warm-up (JIT, server caches)
  for (let round = 0; round < rounds; round++) {
    runs.etcd3.push(await withEtcd3(server.endpoints));
    runs.own.push(await withOwnClient(server.endpoints));
    runs.txns.push(await withTransactions(server.endpoints));
    runs.baton.push(await withBaton(server.endpoints));
  }
} finally {
  await server.stop();
}

const sum = (list, field) => list.reduce((a, b) => a + b[field], 0);
const ratio = (a, b, field = 'ms') => sum(a, field) / sum(b, field);
const ownVsEtcd3 = ratio(runs.own, runs.etcd3);
const batonVsOwn = ratio(runs.baton, runs.own);
const txnsVsOwn = ratio(runs.txns, runs.own);
console.log(`own transport / etcd3: ${ownVsEtcd3.toFixed(2)} (target <= 0.65); Baton / own raw: ${batonVsOwn.toFixed(2)} (target <= 1.15); the two transactions by hand / own raw: ${txnsVsOwn.toFixed(2)}`);
const loadAtEnd = loadavg().map((l) => l.toFixed(1)).join(' ');
console.log(`load average (1, 5, 15 min): ${loadAtStart} at the start, ${loadAtEnd} at the end`);

const facts = machine(server.version);
const row = (label, list) => `| ${label} | ${list.map((r) => `${r.ms.toFixed(3)} (${r.cpu.toFixed(3)})`).join(' | ')} |`;
const report = [
  `\`npm run build && node bench/etcd-transport.mjs --iterations ${iterations} --rounds ${rounds}\`, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC: one fresh etcd ${facts.etcd} member on loopback (default settings, data on the temp dir), one client process; each cell is ${iterations} sequential pairs after a warm-up, the four rows interleaved in ${rounds} rounds in one run, after a discarded warm-up run. Wall milliseconds per pair, and in brackets this process's CPU milliseconds per pair.`,
  '',
  `| operation | ${runs.own.map((_, i) => `round ${i + 1}`).join(' | ')} |`,
  `|---|${runs.own.map(() => '---|').join('')}`,
  row(`raw put + delete, etcd3 ${facts.etcd3} (grpc-js)`, runs.etcd3),
  row("raw put + delete, Baton's transport (gRPC over node:http2)", runs.own),
  row("the same two transactions by hand, Baton's transport, watch on the name", runs.txns),
  row('Baton acquire + release', runs.baton),
  '',
  `Requests, counted: an uncontended acquire sends ${trips.acquire.length} (${trips.acquire.join(', ')}: create the own key if absent and count the name's keys, in one transaction: a count of 1 says the key is first), a release ${trips.release.length} (${trips.release.join(', ')}: delete the own key if its create revision is still the token). The name's watch is created once and kept. Beyond the same two round trips, Baton pays for the server's work (a transaction with a compare and a count instead of a bare put, a key attached to a lease, a compare on the delete, and two watch events per pair, the create and the delete, sent to the name's watch: the row of the two transactions by hand pays all of it and no recipe) and for its own client-side work per pair (the recipe, the watched view, the own-key watch, the guaranteed removal: the difference between that row and Baton's, CPU in brackets).`,
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
