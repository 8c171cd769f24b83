// Handoff throughput on one ZooKeeper mutex: 8 clients (each its own session) loop
// acquire -> release on the same lock for a fixed time; acquisitions per second in total.
// Baton, then Curator's InterProcessMutex and kazoo's Lock on the same server in the same run.
//
//   npm run build && node bench/zookeeper-handoff.mjs [--seconds 10] [--clients 8] [--rounds 3] [--append-docs]
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { connect } from '../dist/index.js';
import { arg, flag } from './common.mjs';
import { appendToBenchmarks, compileCurator, INTEROP_DIR, machine, runPeer, zookeeperServer } from './zookeeper-common.mjs';

const seconds = arg('seconds', 10);
const clients = arg('clients', 8);
const rounds = arg('rounds', 3);
const perSecond = (r) => Math.round(r.count / r.seconds);

async function baton(endpoints, duration = seconds) {
  const coords = await Promise.all(Array.from({ length: clients }, () => connect({ backend: 'zookeeper', endpoints })));
  const name = `bench/handoff-baton-${process.pid}`;
  // Warm up (JIT, connections, the lock's parent node).
  for (const coord of coords) await (await coord.mutex(name).acquire()).release();
  let count = 0;
  const start = performance.now();
  const end = start + duration * 1000;
  await Promise.all(
    coords.map(async (coord) => {
      const mutex = coord.mutex(name);
      while (performance.now() < end) {
        const lease = await mutex.acquire();
        count++;
        await lease.release();
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  await Promise.all(coords.map((c) => c.close()));
  return { count, seconds: elapsed };
}

const server = await zookeeperServer();
const samples = { baton: [], curator: [], kazoo: [] };
const load = [];
try {
  const connectString = server.endpoints.join(',');
  // A fresh JVM serves slowly until its JIT has warmed up: warm the server before measuring.
  const warm = await baton(server.endpoints, Math.max(10, seconds));
  console.log(`warm-up: ${(warm.count / warm.seconds).toFixed(0)} acquisitions/s (discarded)`);
  const curator = compileCurator();
  const kazoo = spawnSync('/usr/bin/python3', ['-c', 'import kazoo']).status === 0;
  try {
    // Rounds of Baton, Curator, kazoo in turn, so that noise on a shared machine and the
    // server's slow drift hit all three alike; the median round of each is reported.
    for (let round = 0; round < rounds; round++) {
      load.push(loadavg()[0]);
      samples.baton.push(await baton(server.endpoints));
      console.log(`round ${round + 1} baton:   ${perSecond(samples.baton.at(-1))}/s`);
      if (curator) {
        samples.curator.push(
          await runPeer('java', ['-cp', curator.classpath, 'CuratorPeer', connectString, 'bench-mutex', `/bench/handoff-curator-${process.pid}-${round}`, String(clients), String(seconds)]),
        );
        console.log(`round ${round + 1} curator: ${perSecond(samples.curator.at(-1))}/s`);
      }
      if (kazoo) {
        samples.kazoo.push(
          await runPeer('/usr/bin/python3', [`${INTEROP_DIR}kazoo_peer.py`, connectString, 'bench-mutex', `/bench/handoff-kazoo-${process.pid}-${round}`, String(clients), String(seconds)]),
        );
        console.log(`round ${round + 1} kazoo:   ${perSecond(samples.kazoo.at(-1))}/s`);
      }
    }
    load.push(loadavg()[0]);
  } finally {
    curator?.remove();
  }
} finally {
  await server.stop();
}

const facts = machine(server.version);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rate = (list) => (list.length ? `${median(list.map(perSecond))}/s (rounds: ${list.map(perSecond).join(', ')})` : 'not measured');
const report = [
  `### Handoff: ${clients} clients, one mutex (${new Date().toISOString().slice(0, 10)})`,
  '',
  `\`node bench/zookeeper-handoff.mjs --seconds ${seconds} --clients ${clients}\`: each client its own session, looping acquire -> release for ${seconds} s; one ZooKeeper ${facts.zookeeper} server on loopback; ${rounds} rounds of the three libraries in turn in one run, after a discarded warm-up of the server's JIT.`,
  '',
  '| library | acquisitions/s, median of rounds |',
  '|---|---|',
  `| Baton (node-zookeeper-client ${facts.nodeZookeeperClient}) | ${rate(samples.baton)} |`,
  `| Curator 5.4.0 InterProcessMutex | ${rate(samples.curator)} |`,
  `| kazoo 2.8.0 Lock | ${rate(samples.kazoo)} |`,
  '',
  `Load average (1 min) during the rounds: ${load.map((l) => l.toFixed(1)).join(', ')} (the machine is shared).`,
  '',
  `Machine: nproc ${facts.nproc} (${facts.cpu}), node ${facts.node}, ZooKeeper ${facts.zookeeper}, Java ${facts.java}, Python ${facts.python}.`,
].join('\n');
console.log(`\n${report}`);
if (flag('append-docs')) appendToBenchmarks(report);
