// The Baton benchmark peer, run as its own process like the other libraries' peers: N clients,
// each its own coordinator (its own session; on etcd the coordinators share the process's one
// connection, see docs/etcd.md), loop on one recipe.
//
//   node baton-bench.mjs <url> <mutex|semaphore|rwlock|election> <name> <clients> <warmup-seconds> <seconds> [permits]
//
// rwlock: client i writes when i % 4 == 0 and reads otherwise; election: campaign, then resign.
// Holds granted during the warm-up are not counted. For each counted exclusive hold it prints
// "S <granted> <released>" (process.hrtime.bigint(), CLOCK_MONOTONIC: the clock the Go, Java and
// Python peers read too), then "ALL <every hold, warm-up included>", "CPU <the process's CPU µs
// from the end of the warm-up until its clients stopped>", "DELAY <p50> <p99> <max>" (the event
// loop's delay over the same time, µs) and "RESULT <holds> <seconds>".
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { connect } from '../../dist/index.js';

const [url, mode, name, clientsArg, warmupArg, secondsArg, permitsArg] = process.argv.slice(2);
const clients = Number(clientsArg);
const seconds = Number(secondsArg);
const permits = Number(permitsArg ?? 1);
const coords = await Promise.all(Array.from({ length: clients }, () => connect(url)));
process.stdout.write('READY\n');

/** What client `index` acquires, and whether its hold excludes every other. */
function recipe(coord, index) {
  switch (mode) {
    case 'mutex': {
      const mutex = coord.mutex(name);
      return { exclusive: true, acquire: () => mutex.acquire() };
    }
    case 'semaphore': {
      const semaphore = coord.semaphore(name, { permits });
      return { exclusive: false, acquire: () => semaphore.acquire() };
    }
    case 'rwlock': {
      const rw = coord.readWriteLock(name);
      return index % 4 === 0 ? { exclusive: true, acquire: () => rw.write() } : { exclusive: false, acquire: () => rw.read() };
    }
    case 'election': {
      const election = coord.election(name);
      return { exclusive: true, acquire: () => election.campaign(`baton-${index}`) };
    }
    default:
      throw new Error(`unknown mode ${mode}`);
  }
}

const start = process.hrtime.bigint();
const measureFrom = start + BigInt(Math.round(Number(warmupArg) * 1e9));
const end = measureFrom + BigInt(Math.round(seconds * 1e9));
const stamps = [];
let count = 0;
let all = 0;
const delay = monitorEventLoopDelay({ resolution: 1 });
let cpuFrom;
setTimeout(() => {
  cpuFrom = process.cpuUsage();
  delay.enable();
}, Number(warmupArg) * 1000);
await Promise.all(
  coords.map(async (coord, index) => {
    const { exclusive, acquire } = recipe(coord, index);
    while (process.hrtime.bigint() < end) {
      const lease = await acquire();
      const granted = process.hrtime.bigint();
      const released = process.hrtime.bigint();
      all++;
      if (granted >= measureFrom && granted < end) {
        count++;
        if (exclusive) stamps.push(`S ${granted} ${released}`);
      }
      await lease.release();
    }
  }),
);
const cpu = process.cpuUsage(cpuFrom);
delay.disable();
const us = (ns) => Math.round(ns / 1000);
process.stdout.write(
  `${stamps.join('\n')}${stamps.length ? '\n' : ''}ALL ${all}\nCPU ${cpu.user + cpu.system}\nDELAY ${us(delay.percentile(50))} ${us(delay.percentile(99))} ${us(delay.max)}\nRESULT ${count} ${seconds}\n`,
);
await Promise.all(coords.map((coord) => coord.close()));
process.exit(0);
