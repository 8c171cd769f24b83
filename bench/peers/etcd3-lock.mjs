// The etcd3 package's own Lock as a benchmark peer: N clients, each its own etcd3 client, loop on
// one lock. etcd3's Lock does not wait: acquire() grants a lease, tries to create the key, and
// rejects when the key exists, so a client that wants the lock retries at once; the failed tries
// are counted and reported.
//
//   node etcd3-lock.mjs <endpoints> mutex <name> <clients> <warmup-seconds> <seconds>
//
// Prints "S <granted> <released>" per counted hold (process.hrtime.bigint()), then
// "RESULT <holds> <seconds> <failed tries>".
import { Etcd3, EtcdLockFailedError } from 'etcd3';

const [endpoints, mode, name, clientsArg, warmupArg, secondsArg] = process.argv.slice(2);
if (mode !== 'mutex') throw new Error(`unknown mode ${mode}`);
const seconds = Number(secondsArg);
const clients = Array.from({ length: Number(clientsArg) }, () => new Etcd3({ hosts: endpoints.split(',') }));
await Promise.all(clients.map((client) => client.get('ready-probe').string()));
process.stdout.write('READY\n');

const start = process.hrtime.bigint();
const measureFrom = start + BigInt(Math.round(Number(warmupArg) * 1e9));
const end = measureFrom + BigInt(Math.round(seconds * 1e9));
const stamps = [];
let failed = 0;
await Promise.all(
  clients.map(async (client) => {
    while (process.hrtime.bigint() < end) {
      const lock = client.lock(name);
      try {
        await lock.acquire();
      } catch (error) {
        if (!(error instanceof EtcdLockFailedError)) throw error;
        if (process.hrtime.bigint() >= measureFrom) failed++;
        continue;
      }
      const granted = process.hrtime.bigint();
      const released = process.hrtime.bigint();
      if (granted >= measureFrom && granted < end) stamps.push(`S ${granted} ${released}`);
      await lock.release();
    }
  }),
);
process.stdout.write(`${stamps.join('\n')}${stamps.length ? '\n' : ''}RESULT ${stamps.length} ${seconds} ${failed}\n`);
clients.forEach((client) => client.close());
process.exit(0);
