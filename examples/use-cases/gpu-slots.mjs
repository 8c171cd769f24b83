// GPU slots shared by workers, with queue positions. Six training jobs share two GPUs through a
// fair semaphore: two run at once, the others wait in the order they asked and are told how many
// jobs are ahead of them as the line moves. Runs on the embedded default, or on BATON_BACKEND.
import { connect } from 'baton-locks';

const jobs = ['resnet', 'bert', 'gpt-small', 'vit', 'whisper', 'unet'];
const coords = await Promise.all(jobs.map(() => connect()));
let running = 0;
let mostAtOnce = 0;
const started = [];
let everyoneAsked;
const allAsked = new Promise((resolve) => (everyoneAsked = resolve));

const runs = [];
for (const [i, job] of jobs.entries()) {
  let inLine;
  const joined = new Promise((resolve) => (inLine = resolve));
  const slots = coords[i].semaphore('cluster/gpus', { permits: 2 });
  runs.push(
    slots
      .acquire({
        onQueued: (ahead) => {
          console.log(`${job.padEnd(9)} waiting, ${ahead} ahead`);
          inLine();
        },
      })
      .then(async (permit) => {
        inLine(); // served at once
        running++;
        mostAtOnce = Math.max(mostAtOnce, running);
        started.push(job);
        console.log(`${job.padEnd(9)} on a GPU (token ${permit.token}), ${running} running`);
        await allAsked;
        await new Promise((resolve) => setTimeout(resolve, 5)); // the training step
        running--;
        await permit.release();
      }),
  );
  await joined; // the next job asks once this one is in line, so the order is known
}
everyoneAsked();
await Promise.all(runs);
await Promise.all(coords.map((coord) => coord.close()));

const fair = started.join() === jobs.join();
console.log(`at most ${mostAtOnce} at once on 2 GPUs; served in request order: ${fair ? 'yes' : 'NO'}`);
if (!fair || mostAtOnce > 2) process.exitCode = 1;
