// Per-user session updates serialized across servers. Three servers apply updates to user
// sessions (a cart). Each user's updates take that user's lock, so two servers never interleave a
// read-modify-write on one session, while different users are updated in parallel. Runs on the
// embedded default, or on BATON_BACKEND.
import { connect } from 'baton-locks';

const servers = await Promise.all([1, 2, 3].map(() => connect()));
const sessions = new Map(['alice', 'bob', 'chen'].map((user) => [user, { cart: [] }]));
const busy = new Map();
let usersAtOnce = 0;
let sameUserOverlap = false;

async function addToCart(server, user, item) {
  await server.mutex(`sessions/${user}`).withLock(async () => {
    if (busy.get(user)) sameUserOverlap = true;
    busy.set(user, true);
    usersAtOnce = Math.max(usersAtOnce, [...busy.values()].filter(Boolean).length);
    const session = sessions.get(user); // read
    const cart = [...session.cart, item];
    await new Promise((resolve) => setTimeout(resolve, 3)); // talk to the pricing service
    sessions.set(user, { cart }); // write
    busy.set(user, false);
  }, { timeoutMs: 10_000 });
}

const updates = [];
for (const user of sessions.keys()) {
  for (let i = 1; i <= 4; i++) updates.push(addToCart(servers[(i + user.length) % 3], user, `item-${i}`));
}
await Promise.all(updates);
await Promise.all(servers.map((server) => server.close()));

for (const [user, { cart }] of sessions) console.log(`${user}: ${cart.length} items`);
const complete = [...sessions.values()].every(({ cart }) => cart.length === 4);
console.log(`every update kept: ${complete ? 'yes' : 'NO'}; one update at a time per user: ${sameUserOverlap ? 'NO' : 'yes'}; users updated in parallel: ${usersAtOnce > 1 ? 'yes' : 'no'}`);
if (!complete || sameUserOverlap) process.exitCode = 1;
