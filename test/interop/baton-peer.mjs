// A Baton process for interop and fault tests, importing the built package (dist/).
//
//   node baton-peer.mjs <url> lock <name>      HELD <key> <token>; LOST <reason> when the hold is lost;
//                                              a "release" line releases (RELEASED), "exit" exits
// Prints READY once connected and WAITING before it blocks.
import { createInterface } from 'node:readline';
import { connect } from '../../dist/index.js';

const [url, mode, name] = process.argv.slice(2);
const say = (line) => process.stdout.write(`${line}\n`);
const coord = await connect(url);
say('READY');
const lines = createInterface({ input: process.stdin });
if (mode === 'lock') {
  say('WAITING');
  const lease = await coord.mutex(name).acquire();
  say(`HELD ${lease.key} ${lease.token}`);
  lease.signal.addEventListener('abort', () => {
    if (lease.signal.reason?.name === 'LeaseLostError') say(`LOST ${lease.signal.reason.message}`);
  });
  for await (const line of lines) {
    if (line.trim() === 'release') {
      await lease.release();
      say('RELEASED');
    }
    if (line.trim() === 'exit') break;
  }
} else {
  throw new Error(`unknown mode ${mode}`);
}
await coord.close();
process.exit(0);
