// Uncontended cost on etcd: one coordinator acquiring and releasing a free mutex in a loop,
// against a raw put + delete of one key with etcd3 on the same server, in the same run
// (raw, Baton, raw again, Baton again), milliseconds per pair.
//
//   npm run build && node bench/etcd-uncontended.mjs [--iterations 1000] [--append-docs]
import { Etcd3 } from 'etcd3';
import { connect } from '../dist/index.js';
import { appendToBenchmarks, arg, etcdServer, flag, machine } from './etcd-common.mjs';

const iterations = arg('iterations', 1000);

async function time(label, n, fn) {
  for (let i = 0; i < Math.min(100, n); i++) await fn(i); // warm-up
  const start = performance.now();
  for (let i = 0; i < n; i++) await fn(i);
  const ms = (performance.now() - start) / n;
  console.log(`${label.padEnd(36)} ${ms.toFixed(3)} ms per pair (${(1000 / ms).toFixed(0)}/s)`);
  return ms;
}

async function raw(endpoints) {
  const client = new Etcd3({ hosts: endpoints });
  const key = Buffer.from(`bench/raw-${process.pid}`);
  try {
    return await time('raw put + delete (etcd3)', iterations, async () => {
      await client.kv.put({ key, value: Buffer.from('') });
      await client.kv.deleteRange({ key });
    });
  } finally {
    client.close();
  }
}

async function baton(endpoints) {
  const coord = await connect({ backend: 'etcd', endpoints });
  const mutex = coord.mutex(`bench/uncontended-${process.pid}`);
  try {
    return await time('Baton acquire + release', iterations, async () => {
      const lease = await mutex.acquire();
      await lease.release();
    });
  } finally {
    await coord.close();
  }
}

const server = await etcdServer();
const results = {};
try {
  await baton(server.endpoints); // discarded warm-up (JIT, server caches)
  results.raw = await raw(server.endpoints);
  results.baton = await baton(server.endpoints);
  results.rawAgain = await raw(server.endpoints);
  results.batonAgain = await baton(server.endpoints);
} finally {
  await server.stop();
}

if (flag('append-docs')) {
  const facts = machine(server.version);
  const ratio = (results.baton + results.batonAgain) / (results.raw + results.rawAgain);
  appendToBenchmarks(
    [
      `### Uncontended acquire + release against raw put + delete (${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC)`,
      '',
      `\`node bench/etcd-uncontended.mjs --iterations ${iterations}\`: one coordinator acquires and releases a free mutex ${iterations} times; the reference is an etcd3 client putting and deleting one key ${iterations} times; same etcd ${facts.etcd} member on loopback, same run, interleaved.`,
      '',
      '| operation | ms per pair, first | ms per pair, second |',
      '|---|---|---|',
      `| raw put + delete (etcd3) | ${results.raw.toFixed(3)} | ${results.rawAgain.toFixed(3)} |`,
      `| Baton acquire + release | ${results.baton.toFixed(3)} | ${results.batonAgain.toFixed(3)} |`,
      '',
      `Baton / raw: ${ratio.toFixed(2)}. An uncontended acquire is one transaction (create the own key if absent, read the prefix) and a release one guarded delete: two round trips, as put + delete.`,
      '',
      `Machine: ${facts.nproc} CPUs (\`nproc\`), ${facts.cpu}; Node ${facts.node}; etcd ${facts.etcd}; etcd3 ${facts.etcd3}; 1-minute load average ${facts.load} at the end (the machine is shared: figures vary between runs).`,
    ].join('\n'),
  );
}
