// AI agents appending to a shared memory store one at a time. Four agents each record three notes
// in one JSON file (read it, think, write it back). Unlocked, two agents would read the same
// file and one's notes would vanish; under one lock every note lands, each stamped with the token
// of the hold it was written under. Runs on the embedded default, or on BATON_BACKEND.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'baton-locks';

const dir = await mkdtemp(join(tmpdir(), 'agent-memory-'));
const file = join(dir, 'memory.json');
await writeFile(file, '[]');
const agents = await Promise.all(['planner', 'researcher', 'coder', 'reviewer'].map(async (name) => ({ name, coord: await connect() })));

async function remember(agent, note) {
  await agent.coord.mutex('agents/shared-memory').withLock(async (lease) => {
    const notes = JSON.parse(await readFile(file, 'utf8'));
    await new Promise((resolve) => setTimeout(resolve, 2)); // the agent thinks
    notes.push({ by: agent.name, note, token: String(lease.token) });
    await writeFile(file, JSON.stringify(notes, null, 1));
  }, { timeoutMs: 10_000 });
}

await Promise.all(agents.map(async (agent) => {
  for (let i = 1; i <= 3; i++) await remember(agent, `${agent.name} note ${i}`);
}));
const notes = JSON.parse(await readFile(file, 'utf8'));
await Promise.all(agents.map(({ coord }) => coord.close()));
await rm(dir, { recursive: true });

const tokens = notes.map((n) => BigInt(n.token));
const increasing = tokens.every((token, i) => i === 0 || token > tokens[i - 1]);
console.log(`notes in memory: ${notes.length} of 12; tokens increase note after note: ${increasing ? 'yes' : 'NO'}`);
if (notes.length !== 12 || !increasing) process.exitCode = 1;
