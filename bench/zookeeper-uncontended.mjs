// ZooKeeper's uncontended cost, run by bench/side-by-side.mjs on its server: Baton's mutex
// acquire + release (and tryAcquire + release) against a raw create(EPHEMERAL_SEQUENTIAL) + delete
// through node-zookeeper-client, the client library Baton's adapter uses, in interleaved rounds
// after a warm-up so that server warm-up and noise hit both alike. Prints one line
// "JSON {raw, baton, tryAcquire, rounds, perRound}" (median of the rounds' mean ms per pair).
//
//   npm run build && node bench/zookeeper-uncontended.mjs --endpoints host:port [--iterations 2000]
import zookeeper from 'node-zookeeper-client';
import { connect } from '../dist/index.js';
import { arg } from './common.mjs';

const iterations = arg('iterations', 2000);
const rounds = 5;
const endpointsArg = process.argv.includes('--endpoints') ? process.argv[process.argv.indexOf('--endpoints') + 1] : undefined;
if (!endpointsArg) throw new Error('usage: node bench/zookeeper-uncontended.mjs --endpoints host:port [--iterations N]');
const endpoints = endpointsArg.split(',');
const times = { baton: [], raw: [], tryAcquire: [] };

const coord = await connect({ backend: 'zookeeper', endpoints });
const client = zookeeper.createClient(endpoints.join(','), { sessionTimeout: 10000 });
client.connect();
await new Promise((resolve) => client.once('connected', resolve));
const call = (fn) => new Promise((resolve, reject) => fn((error, result) => (error ? reject(error) : resolve(result))));
await call((cb) => client.create('/bench-raw', cb)).catch(() => {});
const mutex = coord.mutex('bench/uncontended');

const batonRound = async (n) => {
  const start = performance.now();
  for (let i = 0; i < n; i++) await (await mutex.acquire()).release();
  return (performance.now() - start) / n;
};
const tryRound = async (n) => {
  const start = performance.now();
  for (let i = 0; i < n; i++) await (await mutex.tryAcquire()).release();
  return (performance.now() - start) / n;
};
const rawRound = async (n) => {
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    const path = await call((cb) => client.create('/bench-raw/n-', Buffer.alloc(0), zookeeper.CreateMode.EPHEMERAL_SEQUENTIAL, cb));
    await call((cb) => client.remove(path, -1, cb));
  }
  return (performance.now() - start) / n;
};
// Warm-up: the server's JIT and both clients.
await batonRound(iterations);
await rawRound(iterations);
for (let round = 0; round < rounds; round++) {
  times.raw.push(await rawRound(iterations / rounds));
  times.baton.push(await batonRound(iterations / rounds));
  times.tryAcquire.push(await tryRound(iterations / rounds));
}
client.close();
await coord.close();
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`JSON ${JSON.stringify({ raw: median(times.raw), baton: median(times.baton), tryAcquire: median(times.tryAcquire), rounds, perRound: iterations / rounds })}`);
process.exit(0);
