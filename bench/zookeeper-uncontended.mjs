// Uncontended cost on ZooKeeper: Baton's mutex acquire + release against a raw
// create(EPHEMERAL_SEQUENTIAL) + delete through node-zookeeper-client, on the same server in the
// same run, interleaved in rounds so that server warm-up and noise hit both alike.
//
//   npm run build && node bench/zookeeper-uncontended.mjs [--iterations 2000] [--append-docs]
//     [--endpoints host:port --json]   (on a running server; prints the figures as one JSON line,
//                                       as bench/side-by-side.mjs reads them)
import zookeeper from 'node-zookeeper-client';
import { loadavg } from 'node:os';
import { connect } from '../dist/index.js';
import { arg, flag } from './common.mjs';
import { appendToBenchmarks, machine, zookeeperServer } from './zookeeper-common.mjs';

const iterations = arg('iterations', 2000);
const rounds = 5;

const endpointsArg = process.argv.includes('--endpoints') ? process.argv[process.argv.indexOf('--endpoints') + 1] : undefined;
const server = endpointsArg ? { endpoints: endpointsArg.split(','), version: 'external', stop: async () => {} } : await zookeeperServer();
const load = [loadavg()[0]];
const times = { baton: [], raw: [], tryAcquire: [] };
try {
  const coord = await connect({ backend: 'zookeeper', endpoints: server.endpoints });
  const client = zookeeper.createClient(server.endpoints.join(','), { sessionTimeout: 10000 });
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
  load.push(loadavg()[0]);
  client.close();
  await coord.close();
} finally {
  await server.stop();
}

if (flag('json')) {
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  console.log(`JSON ${JSON.stringify({ raw: median(times.raw), baton: median(times.baton), tryAcquire: median(times.tryAcquire), rounds, perRound: iterations / rounds })}`);
  process.exit(0);
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (x) => `${x.toFixed(2)} ms`;
const facts = machine(server.version);
const raw = median(times.raw);
const baton = median(times.baton);
const tryA = median(times.tryAcquire);
const report = [
  `### Uncontended acquire + release (${new Date().toISOString().slice(0, 10)})`,
  '',
  `\`node bench/zookeeper-uncontended.mjs --iterations ${iterations}\`: one client, sequential, ${rounds} interleaved rounds after a warm-up; median of the rounds' mean per operation; one ZooKeeper ${facts.zookeeper} server on loopback (default tickTime, fsync on).`,
  '',
  '| operation | per operation | per second |',
  '|---|---|---|',
  `| raw node-zookeeper-client create (EPHEMERAL_SEQUENTIAL) + delete | ${ms(raw)} | ${(1000 / raw).toFixed(0)} |`,
  `| Baton \`mutex.acquire()\` + \`release()\` | ${ms(baton)} | ${(1000 / baton).toFixed(0)} |`,
  `| Baton \`mutex.tryAcquire()\` + \`release()\` | ${ms(tryA)} | ${(1000 / tryA).toFixed(0)} |`,
  '',
  `Baton / raw: ${(baton / raw).toFixed(2)}x. An acquire is one round trip, one write: a multi of the create and a parent stamp (the token; the parent's Stat says the node is alone, so no listing), with the own-node watch (a getData on the name the node will get) behind it; the release one delete, as in the raw loop. The difference is that multi and watch, and client-side work.`,
  '',
  `Load average (1 min) at start and end: ${load.map((l) => l.toFixed(1)).join(', ')} (the machine is shared).`,
  '',
  `Machine: nproc ${facts.nproc} (${facts.cpu}), node ${facts.node}, ZooKeeper ${facts.zookeeper}.`,
].join('\n');
console.log(report);
if (flag('append-docs')) appendToBenchmarks(report);
