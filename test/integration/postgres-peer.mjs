// A Baton process on PostgreSQL for fault tests, importing the built package (dist/).
//
//   node postgres-peer.mjs <url> <name>
// Prints READY once connected, WAITING, then HELD <key> <token> once it holds mutex <name> (or
// FAILED <error> when the acquire fails), LOST <epoch ms> <reason> when the hold is lost. Stdin commands: "fenced <sku>" decrements inventory(<sku>) in a fenced
// transaction (FENCED ok | FENCED <error name>: <message>); "release" (RELEASED); "exit".
import { createInterface } from 'node:readline';
import { connect, fencedTransaction } from '../../dist/index.js';

const [url, name] = process.argv.slice(2);
const say = (line) => process.stdout.write(`${line}\n`);
const coord = await connect(url);
say('READY');
say('WAITING');
let lease;
try {
  lease = await coord.mutex(name).acquire();
} catch (error) {
  say(`FAILED ${error.name}: ${error.message}`);
  await coord.close();
  process.exit(0);
}
say(`HELD ${lease.key} ${lease.token}`);
lease.signal.addEventListener('abort', () => {
  if (lease.signal.reason?.name === 'LeaseLostError') say(`LOST ${performance.timeOrigin + performance.now()} ${lease.signal.reason.message}`);
});
for await (const line of createInterface({ input: process.stdin })) {
  const [command, arg] = line.trim().split(' ');
  if (command === 'fenced') {
    try {
      await fencedTransaction(coord, lease, (sql) =>
        sql.query('UPDATE inventory SET count = count - 1, last_token = $2 WHERE sku = $1', [arg, String(lease.token)]),
      );
      say('FENCED ok');
    } catch (error) {
      say(`FENCED ${error.name}: ${error.message}`);
    }
  }
  if (command === 'release') {
    await lease.release();
    say('RELEASED');
  }
  if (command === 'exit') break;
}
await coord.close();
