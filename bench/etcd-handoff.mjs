// Handoff throughput on one etcd mutex: N clients (each its own coordinator: connection, lease)
// loop acquire -> release on the same lock until H handoffs are done; handoffs per second.
// Baton, then Go's concurrency.Mutex algorithm (written with etcd3, see etcd-common.mjs) on the
// same server in the same run, then Baton again.
//
//   npm run build && node bench/etcd-handoff.mjs [--handoffs 2000] [--clients 8] [--append-docs]
import { Etcd3 } from 'etcd3';
import { connect } from '../dist/index.js';
import { appendToBenchmarks, arg, etcdServer, flag, GoStyleMutex, machine } from './etcd-common.mjs';

const handoffs = arg('handoffs', 2000);
const clients = arg('clients', 8);

/** Runs `clients` loops of acquire/release until `total` acquisitions are done. */
async function loop(total, makeClient) {
  const workers = await Promise.all(Array.from({ length: clients }, (_, i) => makeClient(i)));
  for (const worker of workers) {
    await worker.acquire();
    await worker.release();
  }
  let count = 0;
  let inside = 0;
  const start = performance.now();
  await Promise.all(
    workers.map(async (worker) => {
      while (count < total) {
        await worker.acquire();
        if (++inside !== 1) throw new Error('mutual exclusion violated');
        count++;
        inside--;
        await worker.release();
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  await Promise.all(workers.map((worker) => worker.close()));
  return { count, seconds };
}

async function baton(endpoints, total) {
  const name = `bench/handoff-baton-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  return loop(total, async () => {
    const coord = await connect({ backend: 'etcd', endpoints });
    const mutex = coord.mutex(name);
    let lease;
    return {
      acquire: async () => void (lease = await mutex.acquire()),
      release: () => lease.release(),
      close: () => coord.close(),
    };
  });
}

async function goStyle(endpoints, total) {
  const name = `bench/handoff-go-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  return loop(total, async () => {
    const client = new Etcd3({ hosts: endpoints });
    const lease = client.lease(60);
    const mutex = new GoStyleMutex(client, lease, name);
    return {
      acquire: () => mutex.lock(),
      release: () => mutex.unlock(),
      close: async () => {
        await lease.revoke().catch(() => {});
        client.close();
      },
    };
  });
}

const rate = (r) => r.count / r.seconds;
const server = await etcdServer();
const results = {};
try {
  // A discarded warm-up run of full size: the first thousand handoffs on a fresh process and
  // server run markedly slower (JIT, server caches), which would favour whoever runs second.
  const warm = await baton(server.endpoints, handoffs);
  console.log(`warm-up:           ${rate(warm).toFixed(0)} handoffs/s (discarded)`);
  results.baton = await baton(server.endpoints, handoffs);
  console.log(`baton:             ${rate(results.baton).toFixed(0)} handoffs/s (${results.baton.count} in ${results.baton.seconds.toFixed(2)} s)`);
  const goTotal = Math.max(100, Math.round(handoffs / 5));
  results.go = await goStyle(server.endpoints, goTotal);
  console.log(`go-style (Mutex):  ${rate(results.go).toFixed(0)} handoffs/s (${results.go.count} in ${results.go.seconds.toFixed(2)} s)`);
  results.batonAgain = await baton(server.endpoints, handoffs);
  console.log(`baton (again):     ${rate(results.batonAgain).toFixed(0)} handoffs/s (${results.batonAgain.count} in ${results.batonAgain.seconds.toFixed(2)} s)`);
} finally {
  await server.stop();
}

if (flag('append-docs')) {
  const facts = machine(server.version);
  const row = (label, r) => `| ${label} | ${rate(r).toFixed(0)} | ${r.count} in ${r.seconds.toFixed(2)} s |`;
  appendToBenchmarks(
    [
      `### Handoff: ${clients} clients, one mutex (${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC)`,
      '',
      `\`node bench/etcd-handoff.mjs --handoffs ${handoffs} --clients ${clients}\`: ${clients} coordinators (each its own connection and lease) loop acquire -> release on one mutex until ${handoffs} acquisitions are done; one etcd ${facts.etcd} member on loopback, default settings. The Go reference is the algorithm of Go's \`concurrency.Mutex\` (etcd 3.4) run with etcd3 in the same process and run, between two Baton runs, after a discarded Baton warm-up run of the same size.`,
      '',
      '| client | handoffs/s | measured |',
      '|---|---|---|',
      row('Baton, first', results.baton),
      row("Go's concurrency.Mutex algorithm", results.go),
      row('Baton, last', results.batonAgain),
      '',
      `Machine: ${facts.nproc} CPUs (\`nproc\`), ${facts.cpu}; Node ${facts.node}; etcd ${facts.etcd}; etcd3 ${facts.etcd3}; 1-minute load average ${facts.load} at the end (the machine is shared: figures vary between runs).`,
    ].join('\n'),
  );
}
