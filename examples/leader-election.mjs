// Three workers campaign for leadership of "scheduler". The leader works; then it dies without
// resigning (its keep-alive stops, as a crashed process's would) and, once its session's TTL has
// run out, the next worker in line takes over with a higher fencing token. An observer prints
// every change. Runs on the embedded backend: `npm run examples`.
import { connect } from 'baton-locks';
import { backendOf } from 'baton-locks/testing';

const TTL_SECONDS = 1;
const log = (who, text) => console.log(`[${(performance.now() / 1000).toFixed(2)}s] ${who.padEnd(9)} ${text}`);

const observer = await connect({ backend: 'memory', ttl: TTL_SECONDS });
const stopObserving = new AbortController();
const sightings = [];
let sighted = () => {};
const observed = (async () => {
  for await (const leader of observer.election('scheduler').observe({ signal: stopObserving.signal })) {
    log('observer', leader ? `leader is ${leader.value} (token ${leader.token})` : 'no leader');
    sightings.push(leader?.value);
    sighted();
  }
})();
/** Resolves once the observer has reported `value` (undefined: no leader) after `since` sightings. */
async function observerSees(value, since = 0) {
  while (!sightings.slice(since).includes(value)) await new Promise((resolve) => (sighted = resolve));
}

async function worker(id) {
  const coord = await connect({ backend: 'memory', ttl: TTL_SECONDS });
  const leadership = await coord.election('scheduler').campaign(id, {
    onQueued: (ahead) => log(id, `waiting, ${ahead} campaigner(s) ahead`),
  });
  log(id, `became leader with fencing token ${leadership.token}`);
  return { id, coord, leadership };
}

const workers = ['worker-1', 'worker-2', 'worker-3'].map(worker);
const first = await workers[0];
await first.leadership.proclaim(`${first.id} (busy: nightly run)`);

// The leader dies: no resign, no more keep-alives. Its session expires after the TTL.
log(first.id, 'crashes without resigning');
backendOf(first.coord).suspendKeepAlive();
first.leadership.signal.addEventListener('abort', () => log(first.id, `leadership lost: ${first.leadership.signal.reason.message}`));

const second = await workers[1];
if (second.leadership.token <= first.leadership.token) throw new Error('the fencing token did not increase');
log(second.id, 'resigns after its work');
await second.leadership.resign();

const third = await workers[2];
await observerSees('worker-3');
const before = sightings.length;
await third.leadership.resign();
await observerSees(undefined, before);
stopObserving.abort();
await observed;
await Promise.all([observer, first.coord, second.coord, third.coord].map((coord) => coord.close()));
