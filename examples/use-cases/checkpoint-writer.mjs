// A model-checkpoint writer fenced by its token. Trainer A holds the checkpoint lock and sends
// step 100, but the write is slow on the wire (a stalled connection); meanwhile A's hold ends and
// trainer B takes the lock with a higher token and writes step 200. When A's delayed write finally
// arrives, the file store compares tokens and refuses it, so the newer checkpoint survives. Runs
// on the embedded default, or on BATON_BACKEND.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, StaleTokenError } from 'baton-locks';

/** A checkpoint store that keeps the highest token it has accepted next to the data. */
class CheckpointStore {
  constructor(dir) {
    this.dir = dir;
  }
  async write(step, token) {
    const meta = JSON.parse(await readFile(join(this.dir, 'meta.json'), 'utf8').catch(() => '{"token":"-1"}'));
    if (token < BigInt(meta.token)) throw new StaleTokenError(token, BigInt(meta.token));
    await writeFile(join(this.dir, 'model.ckpt'), `weights at step ${step}\n`);
    await writeFile(join(this.dir, 'meta.json'), JSON.stringify({ token: String(token), step }));
  }
  async read() {
    return (await readFile(join(this.dir, 'model.ckpt'), 'utf8')).trim();
  }
}

const dir = await mkdtemp(join(tmpdir(), 'checkpoints-'));
const store = new CheckpointStore(dir);
const [trainerA, trainerB] = await Promise.all([connect(), connect()]);

const leaseA = await trainerA.mutex('models/llm-7b/checkpoint').acquire();
console.log(`trainer A holds the lock, token ${leaseA.token}`);
let deliver;
const onTheWire = new Promise((resolve) => (deliver = resolve)); // A's write, sent but not yet arrived
const delayedWrite = onTheWire.then(() => store.write(100, leaseA.token));
await leaseA.release(); // A's hold ends (expired, or released by a timeout) while its write is in flight

const leaseB = await trainerB.mutex('models/llm-7b/checkpoint').acquire();
console.log(`trainer B holds the lock, token ${leaseB.token}`);
await store.write(200, leaseB.token);
console.log('trainer B wrote step 200');
await leaseB.release();

deliver(); // A's write arrives late
const outcome = await delayedWrite.then(() => 'accepted', (error) => (error instanceof StaleTokenError ? 'refused as stale' : `failed: ${error}`));
console.log(`trainer A's delayed write of step 100 was ${outcome}`);
console.log(`checkpoint on disk: ${await store.read()}`);
await Promise.all([trainerA.close(), trainerB.close()]);
await rm(dir, { recursive: true });
if (outcome !== 'refused as stale') process.exitCode = 1;
