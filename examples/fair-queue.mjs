// Five workers share one GPU slot through a fair mutex, and then two slots through a semaphore.
// Each joins the queue after the previous one, sees how many are ahead of it, and is served in
// the order it asked, with a fencing token that grows from holder to holder. Runs on the
// embedded backend: `npm run examples`.
import { connect } from 'baton-locks';

const workers = await Promise.all(['ana', 'ben', 'caro', 'dev', 'eli'].map(async (id) => ({ id, coord: await connect() })));

async function queueUp(label, acquire) {
  console.log(`\n${label}`);
  const served = [];
  const done = [];
  let everyoneAsked;
  const allAsked = new Promise((resolve) => (everyoneAsked = resolve));
  for (const { id, coord } of workers) {
    let queued;
    const joined = new Promise((resolve) => (queued = resolve));
    let first = true;
    done.push(
      acquire(coord, {
        onQueued: (ahead) => {
          console.log(`  ${id.padEnd(5)} queued, ${ahead} waiting ahead`);
          if (first) (first = false), queued();
        },
      }).then(async (lease) => {
        served.push(id);
        console.log(`  ${id.padEnd(5)} holds  token=${lease.token}  key=${lease.key}`);
        if (first) (first = false), queued(); // served at once, never queued
        await allAsked; // the first holders keep their slot until everyone is in line
        await new Promise((resolve) => setTimeout(resolve, 10)); // the work
        await lease.release();
      }),
    );
    await joined; // the next worker asks only after this one is in line (or served)
  }
  everyoneAsked();
  await Promise.all(done);
  const inOrder = served.join(',') === workers.map((w) => w.id).join(',');
  console.log(`  served in request order: ${inOrder ? 'yes' : `NO (${served.join(', ')})`}`);
  if (!inOrder) process.exitCode = 1;
}

await queueUp('One GPU slot (mutex "gpu/slot"):', (coord, options) => coord.mutex('gpu/slot').acquire(options));
await queueUp('Two GPU slots (semaphore "gpu/pool", permits 2):', (coord, options) =>
  coord.semaphore('gpu/pool', { permits: 2 }).acquire(options),
);
await Promise.all(workers.map(({ coord }) => coord.close()));
