// The etcd transport's cost per call: a raw put + delete of one key with Baton's own client (gRPC
// framed by hand over node:http2) against the same with the etcd3 package (grpc-js), and Baton's
// uncontended acquire + release against the own client's raw put + delete; one fresh etcd member,
// one run, the three interleaved twice after a discarded warm-up, milliseconds per pair.
//
//   npm run build && node bench/etcd-transport.mjs [--iterations 2000] [--append-docs]
import { Etcd3 } from 'etcd3';
import { connect } from '../dist/index.js';
import { EtcdClient } from '../dist/backends/etcd/transport/client.js';
import { appendToBenchmarks, arg, etcdServer, flag, machine } from './etcd-common.mjs';

const iterations = arg('iterations', 2000);

async function time(label, fn) {
  for (let i = 0; i < Math.min(200, iterations); i++) await fn(); // warm-up
  const start = performance.now();
  for (let i = 0; i < iterations; i++) await fn();
  const ms = (performance.now() - start) / iterations;
  console.log(`${label.padEnd(40)} ${ms.toFixed(3)} ms per pair (${(1000 / ms).toFixed(0)}/s)`);
  return ms;
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

const server = await etcdServer();
const runs = { etcd3: [], own: [], baton: [] };
try {
  await withOwnClient(server.endpoints); // discarded warm-up (JIT, server caches)
  for (let round = 0; round < 2; round++) {
    runs.etcd3.push(await withEtcd3(server.endpoints));
    runs.own.push(await withOwnClient(server.endpoints));
    runs.baton.push(await withBaton(server.endpoints));
  }
} finally {
  await server.stop();
}

const sum = (list) => list.reduce((a, b) => a + b, 0);
const ownVsEtcd3 = sum(runs.own) / sum(runs.etcd3);
const batonVsOwn = sum(runs.baton) / sum(runs.own);
console.log(`own transport / etcd3: ${ownVsEtcd3.toFixed(2)} (target <= 0.65); Baton / own raw: ${batonVsOwn.toFixed(2)} (target <= 1.15)`);

if (flag('append-docs')) {
  const facts = machine(server.version);
  const row = (label, list) => `| ${label} | ${list.map((ms) => ms.toFixed(3)).join(' | ')} |`;
  appendToBenchmarks(
    [
      `### The transport: raw put + delete, own client against etcd3, and Baton against the own client (${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC)`,
      '',
      `\`npm run build && node bench/etcd-transport.mjs --iterations ${iterations} --append-docs\`: one fresh etcd ${facts.etcd} member on loopback (default settings, data on the temp dir), one process; each row is ${iterations} sequential pairs after a warm-up, the three rows interleaved twice in one run, after a discarded warm-up run.`,
      '',
      '| operation | ms per pair, first | ms per pair, second |',
      '|---|---|---|',
      row(`raw put + delete, etcd3 ${facts.etcd3} (grpc-js)`, runs.etcd3),
      row("raw put + delete, Baton's transport (gRPC over node:http2)", runs.own),
      row('Baton acquire + release (one txn each, watch events included)', runs.baton),
      '',
      `Own transport / etcd3: ${ownVsEtcd3.toFixed(2)} (target <= 0.65). Baton acquire + release / own raw put + delete: ${batonVsOwn.toFixed(2)} (target <= 1.15).`,
      '',
      `Machine: ${facts.nproc} CPUs (\`nproc\`), ${facts.cpu}; Node ${facts.node}; etcd ${facts.etcd}; 1-minute load average ${facts.load} at the end (the machine is shared: figures vary between runs).`,
    ].join('\n'),
  );
}
