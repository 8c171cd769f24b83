// Recipe overhead on the embedded backend, where a round trip costs only a turn of the event
// loop: 8 coordinators loop acquire -> release on one mutex; also uncontended acquire + release.
// What is left is Baton's own client-side work per handoff. Writes the "Memory (recipe overhead)"
// section of docs/benchmarks.md unless --no-docs.
//
//   npm run build && node bench/memory-handoff.mjs [--handoffs 20000] [--clients 8] [--no-docs]
import { connect } from '../dist/index.js';
import { arg, flag, machineLine, utcMinute, writeSection } from './common.mjs';

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

if (!flag('no-docs')) {
  const when = utcMinute();
  writeSection(
    'Memory (recipe overhead)',
    [
      `\`node bench/memory-handoff.mjs --handoffs ${handoffs} --clients ${clients}\`, ${when} UTC, one run after a discarded warm-up of the same size. On the embedded backend a round trip is one turn of the event loop, so what is measured is Baton's own client-side work: ${clients} coordinators loop acquire -> release on one mutex until ${handoffs} acquisitions are done, then one coordinator acquires and releases a free mutex ${handoffs} times.`,
      '',
      '| measure | result |',
      '|---|---|',
      `| ${clients} coordinators, one mutex | **${Math.round(rate)} handoffs/s** |`,
      `| uncontended acquire + release | **${micros.toFixed(1)} µs** |`,
      '',
      machineLine([]),
    ].join('\n'),
  );
}
