// A scheduled job that runs exactly once per slot across replicas. Three replicas wake up for
// every slot (as cron would on each host); each takes the job's lock, and only the first to find
// the slot not yet done runs it. The "done" record lives in a store that refuses writes with a
// fencing token lower than one it has seen, so even a replica that lost its lock mid-run cannot
// record a slot over a newer holder's. Runs on the embedded default, or on BATON_BACKEND.
import { connect, FencingGuard } from 'baton-locks';

const SLOTS = ['2026-12-01T00:00', '2026-12-01T01:00', '2026-12-01T02:00', '2026-12-01T03:00'];
const replicas = await Promise.all(['replica-a', 'replica-b', 'replica-c'].map(async (id) => ({ id, coord: await connect() })));

// The job's own state: the last slot done, guarded by the highest token seen.
const store = { lastSlot: '', runs: [], guard: new FencingGuard() };

async function onTick(replica, slot) {
  await replica.coord.mutex('jobs/hourly-report').withLock(async (lease) => {
    if (store.lastSlot >= slot) return; // another replica already ran this slot
    await new Promise((resolve) => setTimeout(resolve, 5)); // the report itself
    store.guard.check(lease.token); // refuses a stale holder's record
    store.lastSlot = slot;
    store.runs.push({ slot, by: replica.id, token: lease.token });
    console.log(`${slot} ran on ${replica.id} (token ${lease.token})`);
  }, { timeoutMs: 10_000 });
}

for (const slot of SLOTS) await Promise.all(replicas.map((replica) => onTick(replica, slot)));
await Promise.all(replicas.map(({ coord }) => coord.close()));

const once = SLOTS.every((slot) => store.runs.filter((run) => run.slot === slot).length === 1);
console.log(`slots: ${SLOTS.length}, runs: ${store.runs.length}, each slot exactly once: ${once ? 'yes' : 'NO'}`);
if (!once) process.exitCode = 1;
