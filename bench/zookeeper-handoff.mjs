// Handoff throughput on one ZooKeeper mutex: 8 clients (each its own session) loop
// acquire -> release on the same lock for a fixed time; acquisitions per second in total.
// Baton, then Curator's InterProcessMutex and kazoo's Lock on the same server in the same run.
//
//   npm run build && node bench/zookeeper-handoff.mjs [--seconds 10] [--clients 8] [--append-docs]
import { spawnSync } from 'node:child_process';
import { connect } from '../dist/index.js';
import { appendToBenchmarks, compileCurator, INTEROP_DIR, machine, runPeer, zookeeperServer } from './zookeeper-common.mjs';

const arg = (name, fallback) => {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? Number(process.argv[index + 1]) : fallback;
};
const seconds = arg('seconds', 10);
const clients = arg('clients', 8);

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
const results = {};
try {
  const connectString = server.endpoints.join(',');
  // A fresh JVM serves slowly until its JIT has warmed up: warm the server before measuring, and
  // measure Baton both first and last so neither position favours it.
  const warm = await baton(server.endpoints, Math.max(10, seconds));
  console.log(`warm-up: ${(warm.count / warm.seconds).toFixed(0)} acquisitions/s (discarded)`);
  results.baton = await baton(server.endpoints);
  console.log(`baton:   ${(results.baton.count / results.baton.seconds).toFixed(0)} acquisitions/s`);
  const curator = compileCurator();
  if (curator) {
    try {
      results.curator = await runPeer('java', ['-cp', curator.classpath, 'CuratorPeer', connectString, 'bench-mutex', `/bench/handoff-curator-${process.pid}`, String(clients), String(seconds)]);
      console.log(`curator: ${(results.curator.count / results.curator.seconds).toFixed(0)} acquisitions/s`);
    } finally {
      curator.remove();
    }
  }
  if (spawnSync('/usr/bin/python3', ['-c', 'import kazoo']).status === 0) {
    results.kazoo = await runPeer('/usr/bin/python3', [`${INTEROP_DIR}kazoo_peer.py`, connectString, 'bench-mutex', `/bench/handoff-kazoo-${process.pid}`, String(clients), String(seconds)]);
    console.log(`kazoo:   ${(results.kazoo.count / results.kazoo.seconds).toFixed(0)} acquisitions/s`);
  }
  results.batonAgain = await baton(server.endpoints);
  console.log(`baton:   ${(results.batonAgain.count / results.batonAgain.seconds).toFixed(0)} acquisitions/s (again, last)`);
} finally {
  await server.stop();
}

const facts = machine(server.version);
const rate = (r) => (r ? `${(r.count / r.seconds).toFixed(0)}/s (${r.count} in ${r.seconds.toFixed(1)} s)` : 'not measured');
const report = [
  `### Handoff: ${clients} clients, one mutex (${new Date().toISOString().slice(0, 10)})`,
  '',
  `\`node bench/zookeeper-handoff.mjs --seconds ${seconds} --clients ${clients}\`: each client its own session, looping acquire -> release for ${seconds} s; one ZooKeeper ${facts.zookeeper} server on loopback; all three libraries in one run, one after the other, after a discarded warm-up of the server's JIT.`,
  '',
  '| library | acquisitions/s |',
  '|---|---|',
  `| Baton (node-zookeeper-client ${facts.nodeZookeeperClient}), measured first | ${rate(results.baton)} |`,
  `| Curator 5.4.0 InterProcessMutex | ${rate(results.curator)} |`,
  `| kazoo 2.8.0 Lock | ${rate(results.kazoo)} |`,
  `| Baton again, measured last | ${rate(results.batonAgain)} |`,
  '',
  `Machine: nproc ${facts.nproc} (${facts.cpu}), node ${facts.node}, ZooKeeper ${facts.zookeeper}, Java ${facts.java}, Python ${facts.python}.`,
].join('\n');
console.log(`\n${report}`);
if (process.argv.includes('--append-docs')) appendToBenchmarks(report);
