/**
 * `NODE_DEBUG=baton` logs protocol steps on stderr, and nothing without it. Runs the built
 * package in a child process, since util.debuglog reads NODE_DEBUG once per process.
 */
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const entry = resolve(import.meta.dirname, '../../dist/index.js');
const script = `
const { connect } = await import(${JSON.stringify(entry)});
const coord = await connect();
const lease = await coord.mutex('debug/demo').acquire();
await lease.release();
await coord.close();
`;

async function stderrWith(nodeDebug: string | undefined): Promise<string> {
  const env = { ...process.env };
  if (nodeDebug === undefined) delete env.NODE_DEBUG;
  else env.NODE_DEBUG = nodeDebug;
  const { stderr } = await run(process.execPath, ['--input-type=module', '-e', script], { env });
  return stderr;
}

describe('NODE_DEBUG=baton', () => {
  it('logs the session, the acquire, the grant with its token and the release', async () => {
    const lines = (await stderrWith('baton')).trim().split('\n');
    const expected = [
      /^BATON \d+: memory mutex "debug\/demo": acquire$/,
      /^BATON \d+: memory: session \S+ opened$/,
      /^BATON \d+: memory: connected$/,
      /^BATON \d+: enqueued debug\/demo\/\S+ \(revision \d+\)$/,
      /^BATON \d+: memory mutex "debug\/demo": granted debug\/demo\/\S+ token \d+ after \d+ ms$/,
      /^BATON \d+: memory mutex "debug\/demo": released debug\/demo\/\S+ after \d+ ms$/,
      /^BATON \d+: memory: closed$/,
    ];
    for (const pattern of expected) expect(lines.some((line) => pattern.test(line)), `${pattern} in\n${lines.join('\n')}`).toBe(true);
  });

  it('logs nothing without it, or when NODE_DEBUG names other modules only', async () => {
    expect(await stderrWith(undefined)).toBe('');
    expect(await stderrWith('net,http')).toBe('');
  });
});
