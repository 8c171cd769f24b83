// ZooKeeper's uncontended cost, run by bench/side-by-side.mjs on its server: Baton's mutex
// acquire + release (and tryAcquire + release) against a raw create(EPHEMERAL_SEQUENTIAL) + delete
// through node-zookeeper-client, the client library Baton's adapter uses, in 20 interleaved rounds
// (the order rotating) after a warm-up so that server warm-up and noise hit all alike. The
// server's received-packet count (`srvr`), read around each timed round, gives the requests each
// pair sends. Prints one line "JSON {raw, baton, tryAcquire, requests: {raw, baton, tryAcquire},
// rounds, perRound, perRoundMs: {raw: [...], baton: [...], tryAcquire: [...]}}" (median of the
// rounds' mean ms per pair, and every round's; requests per pair over all rounds, null when the
// server does not answer `srvr`). bench/peers/CuratorBench.java and kazoo_bench.py
// measure the same shape.
//
//   npm run build && node bench/zookeeper-uncontended.mjs --endpoints host:port [--iterations 2000]
import zookeeper from 'node-zookeeper-client';
import { connect } from '../dist/index.js';
import { arg } from './common.mjs';
import { packetsReceived } from './zookeeper-common.mjs';

const iterations = arg('iterations', 2000);
// Many short rounds, the order rotating each round, so that drift on a shared machine (its load
// changes within seconds) hits every kind alike.
const rounds = 20;
const perRound = Math.floor(iterations / rounds);
const endpointsArg = process.argv.includes('--endpoints') ? process.argv[process.argv.indexOf('--endpoints') + 1] : undefined;
if (!endpointsArg) throw new Error('usage: node bench/zookeeper-uncontended.mjs --endpoints host:port [--iterations N]');
const endpoints = endpointsArg.split(',');

const coord = await connect({ backend: 'zookeeper', endpoints });
const client = zookeeper.createClient(endpoints.join(','), { sessionTimeout: 10000 });
client.connect();
await new Promise((resolve) => client.once('connected', resolve));
const call = (fn) => new Promise((resolve, reject) => fn((error, result) => (error ? reject(error) : resolve(result))));
await call((cb) => client.create('/bench-raw', cb)).catch(() => {});
const mutex = coord.mutex('bench/uncontended');

/** n pairs of `pair`, timed: mean ms per pair. */
const timed = async (n, pair) => {
  const start = performance.now();
  for (let i = 0; i < n; i++) await pair();
  return (performance.now() - start) / n;
};
const pairs = {
  raw: async () => {
    const path = await call((cb) => client.create('/bench-raw/n-', Buffer.alloc(0), zookeeper.CreateMode.EPHEMERAL_SEQUENTIAL, cb));
    await call((cb) => client.remove(path, -1, cb));
  },
  baton: async () => (await mutex.acquire()).release(),
  tryAcquire: async () => (await mutex.tryAcquire()).release(),
};
const times = { raw: [], baton: [], tryAcquire: [] };
const packets = { raw: 0, baton: 0, tryAcquire: 0 };
let counted = true;
// Warm-up: the server's JIT and both clients.
await timed(iterations, pairs.baton);
await timed(iterations, pairs.raw);
for (let round = 0; round < rounds; round++) {
  const kinds = ['raw', 'baton', 'tryAcquire'];
  for (const kind of kinds.map((_, i) => kinds[(i + round) % kinds.length])) {
    const before = await packetsReceived(endpoints[0]);
    times[kind].push(await timed(perRound, pairs[kind]));
    const after = await packetsReceived(endpoints[0]);
    if (before === undefined || after === undefined) counted = false;
    else packets[kind] += after - before - 1; // the second srvr is counted too
  }
}
client.close();
await coord.close();
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const perPair = (kind) => (counted ? packets[kind] / (perRound * rounds) : null);
console.log(
  `JSON ${JSON.stringify({
    raw: median(times.raw),
    baton: median(times.baton),
    tryAcquire: median(times.tryAcquire),
    requests: { raw: perPair('raw'), baton: perPair('baton'), tryAcquire: perPair('tryAcquire') },
    rounds,
    perRound,
    perRoundMs: times,
  })}`,
);
process.exit(0);
