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

/** The two transactions Baton sends (create-if-absent + read of the prefix; guarded delete), without a watch. */
async function sameTransactions(endpoints) {
  const client = new Etcd3({ hosts: endpoints });
  const lease = String((await client.leaseClient.leaseGrant({ TTL: 60 })).ID);
  const prefix = `bench/txn-${process.pid}/`;
  const key = Buffer.from(`${prefix}${BigInt(lease).toString(16)}`);
  const start = Buffer.from(prefix);
  const end = Buffer.from(prefix.slice(0, -1) + '0');
  try {
    return await time('raw txn create+read, txn delete-if', iterations, async () => {
      const res = await client.kv.txn({
        compare: [{ key, target: 'Create', result: 'Equal', create_revision: '0' }],
        success: [{ request_put: { key, value: Buffer.from(''), lease } }, { request_range: { key: start, range_end: end } }],
        failure: [{ request_range: { key } }],
      });
      await client.kv.txn({
        compare: [{ key, target: 'Create', result: 'Equal', create_revision: res.header.revision }],
        success: [{ request_delete_range: { key } }],
      });
    });
  } finally {
    await client.leaseClient.leaseRevoke({ ID: lease }).catch(() => {});
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
  results.txn = await sameTransactions(server.endpoints);
  results.baton = await baton(server.endpoints);
  results.rawAgain = await raw(server.endpoints);
  results.txnAgain = await sameTransactions(server.endpoints);
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
      `\`node bench/etcd-uncontended.mjs --iterations ${iterations}\`: one coordinator acquires and releases a free mutex ${iterations} times; the reference is an etcd3 client putting and deleting one key ${iterations} times; same etcd ${facts.etcd} member on loopback, same run, interleaved. The middle row sends Baton's two transactions by hand, to show what the transactions cost against plain put and delete, and what the rest (the name's watch receiving its two events, the hold's bookkeeping) adds.`,
      '',
      '| operation | ms per pair, first | ms per pair, second |',
      '|---|---|---|',
      `| raw put + delete (etcd3) | ${results.raw.toFixed(3)} | ${results.rawAgain.toFixed(3)} |`,
      `| the same two transactions Baton sends, with etcd3, no watch | ${results.txn.toFixed(3)} | ${results.txnAgain.toFixed(3)} |`,
      `| Baton acquire + release | ${results.baton.toFixed(3)} | ${results.batonAgain.toFixed(3)} |`,
      '',
      `Baton / raw: ${ratio.toFixed(2)}. An uncontended acquire is one transaction (create the own key if absent, read the prefix) and a release one guarded delete: two round trips, as put + delete.`,
      '',
      `Machine: ${facts.nproc} CPUs (\`nproc\`), ${facts.cpu}; Node ${facts.node}; etcd ${facts.etcd}; etcd3 ${facts.etcd3}; 1-minute load average ${facts.load} at the end (the machine is shared: figures vary between runs).`,
    ].join('\n'),
  );
}
