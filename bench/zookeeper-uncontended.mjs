// ZooKeeper's uncontended cost, run by bench/side-by-side.mjs on its server: Baton's mutex
// acquire + release (and tryAcquire + release) against a raw create(EPHEMERAL_SEQUENTIAL) + delete
// through node-zookeeper-client, the client library Baton's adapter uses, in 20 interleaved rounds
// (the order rotating) after a warm-up so that server warm-up and noise hit all alike. Beside them
// the floor: the requests an uncontended acquire + release sends, sent by hand through the
// connection Baton's adapter uses (node-zookeeper-client under the adapter's supervised
// connection, which frames the create2, listing and delete itself and reads their answers) with no recipe: a create2 and a listing of the
// parent that sets a child watch, in one write, then a delete. What Baton spends above the floor
// is its own work; what the floor spends above the raw pair is what those requests cost (the
// Stat of the create, the listing and its watch, the connection's supervision). The server's
// received-packet count (`srvr`), read around each timed round, gives the requests each pair
// sends. Prints one line "JSON {raw, baton, tryAcquire, floor, requests: {raw, baton, tryAcquire,
// floor}, rounds, perRound, perRoundMs: {raw: [...], baton: [...], tryAcquire: [...], floor:
// [...]}, floorEvents}" (median of the rounds' mean ms per pair, and every round's; requests per
// pair over all rounds, null when the server does not answer `srvr`; the child-watch events the
// floor received, one per pair). bench/peers/CuratorBench.java and kazoo_bench.py measure the
// same shape.
//
//   npm run build && node bench/zookeeper-uncontended.mjs --endpoints host:port [--iterations 2000]
import { randomUUID } from 'node:crypto';
import zookeeper from 'node-zookeeper-client';
import { connect } from '../dist/index.js';
import { ZkConnection } from '../dist/backends/zookeeper/connection.js';
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

// The floor's own session, on the adapter's supervised connection (its heartbeat, a sync every
// fifth of the session timeout, runs as it does under Baton). Its node names have the shape and
// length of a Baton mutex node's (`_c_<uuid>-lock-<seq>`); the uuid is made once, not per pair.
const floorConn = await ZkConnection.open({ endpoints, chroot: '', sessionTimeout: 10000, auth: undefined });
const OPEN_ACL = [new zookeeper.ACL(zookeeper.Permission.ALL, new zookeeper.Id('world', 'anyone'))];
const EMPTY = Buffer.alloc(0);
const floorParent = '/bench-floor';
await floorConn.create(floorParent, EMPTY, OPEN_ACL, zookeeper.CreateMode.PERSISTENT).catch(() => {});
const floorName = `${floorParent}/_c_${randomUUID()}-lock-`;
let floorEvents = 0;
const onFloorChildren = () => floorEvents++;

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
  // Sent in one turn of the event loop: the connection corks the socket, so both go in one write.
  floor: async () => {
    const created = floorConn.create2(floorName, EMPTY, OPEN_ACL, zookeeper.CreateMode.EPHEMERAL_SEQUENTIAL);
    const listed = floorConn.getChildren(floorParent, onFloorChildren);
    const [{ path }, { children }] = await Promise.all([created, listed]);
    if (children.length !== 1) throw new Error(`the floor's node is not alone under ${floorParent}: ${children.join(', ')}`);
    await floorConn.remove(path);
  },
};
const KINDS = Object.keys(pairs);
const times = Object.fromEntries(KINDS.map((kind) => [kind, []]));
const packets = Object.fromEntries(KINDS.map((kind) => [kind, 0]));
let counted = true;
// Warm-up: the server's JIT and both clients.
await timed(iterations, pairs.baton);
await timed(iterations, pairs.raw);
await timed(iterations, pairs.floor);
floorEvents = 0;
for (let round = 0; round < rounds; round++) {
  for (const kind of KINDS.map((_, i) => KINDS[(i + round) % KINDS.length])) {
    const before = await packetsReceived(endpoints[0]);
    times[kind].push(await timed(perRound, pairs[kind]));
    const after = await packetsReceived(endpoints[0]);
    if (before === undefined || after === undefined) counted = false;
    else packets[kind] += after - before - 1; // the second srvr is counted too
  }
}
client.close();
await coord.close();
await floorConn.close();
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const perPair = (kind) => (counted ? packets[kind] / (perRound * rounds) : null);
// For a run on its own: each kind over the raw round beside it, the median over the rounds.
const paired = (kind) => median(times[kind].map((ms, i) => ms / times.raw[i]));
console.log(KINDS.map((kind) => `${kind} ${median(times[kind]).toFixed(3)} ms (${paired(kind).toFixed(2)}x raw, ${perPair(kind)?.toFixed(2) ?? '?'} requests)`).join('; '));
console.log(
  `JSON ${JSON.stringify({
    raw: median(times.raw),
    baton: median(times.baton),
    tryAcquire: median(times.tryAcquire),
    floor: median(times.floor),
    requests: Object.fromEntries(KINDS.map((kind) => [kind, perPair(kind)])),
    rounds,
    perRound,
    perRoundMs: times,
    floorEvents,
  })}`,
);
process.exit(0);
