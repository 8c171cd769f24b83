// Recipe overhead on the embedded backend, where a round trip costs only a turn of the event
// loop: 8 coordinators loop acquire -> release on one mutex; also uncontended acquire + release.
// What is left is Baton's own client-side work per handoff.
//
//   npm run build && node bench/memory-handoff.mjs [--handoffs 20000] [--clients 8]
import { connect } from '../dist/index.js';
import { arg } from './common.mjs';

const handoffs = arg('handoffs', 20000);
const clients = arg('clients', 8);

async function contended(name) {
  const coords = await Promise.all(Array.from({ length: clients }, () => connect('memory://')));
  let count = 0;
  const start = performance.now();
  await Promise.all(
    coords.map(async (coord) => {
      const mutex = coord.mutex(name);
      while (count < handoffs) {
        const lease = await mutex.acquire();
        count++;
        await lease.release();
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  await Promise.all(coords.map((c) => c.close()));
  return count / seconds;
}

async function uncontended(name) {
  const coord = await connect('memory://');
  const mutex = coord.mutex(name);
  const start = performance.now();
  for (let i = 0; i < handoffs; i++) await (await mutex.acquire()).release();
  const micros = ((performance.now() - start) * 1000) / handoffs;
  await coord.close();
  return micros;
}

await contended('bench/warm-up');
const rate = await contended('bench/handoff');
const micros = await uncontended('bench/uncontended');
console.log(`memory, ${clients} clients: ${Math.round(rate)} handoffs/s; uncontended acquire+release: ${micros.toFixed(1)} µs`);
