// An inventory decrement with no lost update and no oversell. Twelve buyers on three servers
// (coordinators) buy from a stock of ten. Each purchase is a read, a pause (a price lookup), and
// a write: without the lock, buyers would read the same stock and both write stock - 1. With a
// mutex per item the ten units go to ten buyers and the last two are told it is sold out. Runs on
// the embedded default, or on BATON_BACKEND.
import { connect } from 'baton-locks';

const servers = await Promise.all([1, 2, 3].map(() => connect()));
const stock = new Map([['sku-42', 10]]);
const sold = [];
const refused = [];

async function buy(server, buyer, sku) {
  await server.mutex(`inventory/${sku}`).withLock(async () => {
    const left = stock.get(sku); // read
    await new Promise((resolve) => setTimeout(resolve, 2)); // the pause where updates get lost
    if (left === 0) {
      refused.push(buyer);
      return;
    }
    stock.set(sku, left - 1); // write
    sold.push(buyer);
  }, { timeoutMs: 10_000 });
}

const buyers = Array.from({ length: 12 }, (_, i) => `buyer-${i + 1}`);
await Promise.all(buyers.map((buyer, i) => buy(servers[i % servers.length], buyer, 'sku-42')));
await Promise.all(servers.map((server) => server.close()));

console.log(`sold: ${sold.length}, sold out for: ${refused.length}, stock left: ${stock.get('sku-42')}`);
const consistent = sold.length === 10 && refused.length === 2 && stock.get('sku-42') === 0;
console.log(`no lost update, no oversell: ${consistent ? 'yes' : 'NO'}`);
if (!consistent) process.exitCode = 1;
