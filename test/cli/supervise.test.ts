import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LeaseLostError, LeaseReleasedError } from '../../src/index.js';
import { Interrupted, SignalRelay, supervise, type SuperviseOptions } from '../../src/cli/supervise.js';
import { tempDir } from '../support/servers.js';
import { until } from '../support/until.js';

let dir: { path: string; remove: () => Promise<void> };
let relay: SignalRelay;
beforeEach(async () => {
  dir = await tempDir('supervise');
  relay = new SignalRelay();
});
afterEach(async () => {
  relay[Symbol.dispose]();
  await dir.remove();
});

/** A fifo the child writes to when it is ready; reading it resolves on that event. */
function fifo(name: string): string {
  const path = join(dir.path, name);
  execFileSync('mkfifo', [path]);
  return path;
}

function options(program: string[], hold: AbortController, extra: Partial<SuperviseOptions> = {}) {
  const reports: string[] = [];
  const losses: unknown[] = [];
  const base: SuperviseOptions = {
    program,
    env: { ...process.env, OUT: dir.path },
    holdSignal: hold.signal,
    isLoss: (reason) => reason instanceof LeaseLostError,
    graceMs: 10_000,
    relay,
    onLost: (reason) => void losses.push(reason),
    report: (line) => void reports.push(line),
    ...extra,
  };
  return { base, reports, losses };
}

const node = process.execPath;

describe('supervise', () => {
  it("returns the program's exit code", async () => {
    const { base } = options(['sh', '-c', 'exit 7'], new AbortController());
    expect(await supervise(base)).toEqual({ code: 7, lost: false });
  });

  it('reports a death by signal N as 128+N', async () => {
    const { base } = options(['sh', '-c', 'kill -TERM $$'], new AbortController());
    expect(await supervise(base)).toEqual({ code: 143, lost: false });
  });

  it('returns 127 for a program that does not exist, and says so', async () => {
    const { base, reports } = options(['/nonexistent/program-xyz'], new AbortController());
    expect(await supervise(base)).toEqual({ code: 127, lost: false });
    expect(reports.join('\n')).toMatch(/cannot run "\/nonexistent\/program-xyz": command not found/);
  });

  it('passes the environment it is given', async () => {
    const out = join(dir.path, 'env');
    const { base } = options(['sh', '-c', `printf %s "$BATON_TOKEN" > ${out}`], new AbortController(), {
      env: { ...process.env, BATON_TOKEN: '42' },
    });
    await supervise(base);
    expect(await readFile(out, 'utf8')).toBe('42');
  });

  it('on loss sends SIGTERM and reports it lost, whatever the program then exits with', async () => {
    const ready = fifo('ready');
    const hold = new AbortController();
    const script = `process.on('SIGTERM', () => { require('fs').writeFileSync(process.env.OUT + '/term', 'yes'); process.exit(0); });
      require('fs').writeFileSync(${JSON.stringify(ready)}, 'ready'); setInterval(() => {}, 1000);`;
    const { base, losses } = options([node, '-e', script], hold);
    const outcome = supervise(base);
    expect(await readFile(ready, 'utf8')).toBe('ready');
    const reason = new LeaseLostError('its key was deleted by someone else');
    hold.abort(reason);
    expect(await outcome).toEqual({ code: 0, lost: true });
    expect(losses).toEqual([reason]);
    expect(await readFile(join(dir.path, 'term'), 'utf8')).toBe('yes');
  });

  it('sends SIGKILL after the grace period to a program that ignores SIGTERM', async () => {
    const ready = fifo('ready');
    const hold = new AbortController();
    const script = `process.on('SIGTERM', () => {}); require('fs').writeFileSync(${JSON.stringify(ready)}, 'ready'); setInterval(() => {}, 1000);`;
    const { base, reports } = options([node, '-e', script], hold, { graceMs: 300 });
    const outcome = supervise(base);
    await readFile(ready, 'utf8');
    const lostAt = Date.now();
    hold.abort(new LeaseLostError('session lost'));
    expect(await outcome).toEqual({ code: 137, lost: true });
    expect(Date.now() - lostAt).toBeGreaterThanOrEqual(290);
    expect(reports.join('\n')).toMatch(/did not exit within the grace period after SIGTERM: sending SIGKILL/);
  });

  it('leaves the program alone when the hold ends by release', async () => {
    const ready = fifo('ready');
    const go = fifo('go');
    const hold = new AbortController();
    const script = `const fs = require('fs'); fs.writeFileSync(${JSON.stringify(ready)}, 'ready');
      fs.readFile(${JSON.stringify(go)}, () => process.exit(4));`;
    const { base, losses } = options([node, '-e', script], hold);
    const outcome = supervise(base);
    await readFile(ready, 'utf8');
    hold.abort(new LeaseReleasedError('released'));
    const { writeFile } = await import('node:fs/promises');
    await writeFile(go, 'go');
    expect(await outcome).toEqual({ code: 4, lost: false });
    expect(losses).toEqual([]);
  });

  it('forwards signals sent to baton to the running program', async () => {
    const ready = fifo('ready');
    const script = `process.on('SIGUSR2', () => process.exit(12)); process.on('SIGINT', () => process.exit(13));
      require('fs').writeFileSync(${JSON.stringify(ready)}, 'ready'); setInterval(() => {}, 1000);`;
    const { base } = options([node, '-e', script], new AbortController());
    const outcome = supervise(base);
    await readFile(ready, 'utf8');
    process.kill(process.pid, 'SIGUSR2');
    expect(await outcome).toEqual({ code: 12, lost: false });
  });

  it('escalates a second interrupt: SIGTERM, then SIGKILL after the grace period, to a program ignoring both', async () => {
    const ready = fifo('ready');
    const got = join(dir.path, 'got');
    const script = `const fs = require('fs');
      for (const s of ['SIGINT', 'SIGTERM']) process.on(s, () => fs.appendFileSync(${JSON.stringify(got)}, s + '\\n'));
      fs.writeFileSync(${JSON.stringify(ready)}, 'ready'); setInterval(() => {}, 1000);`;
    const { base, reports } = options([node, '-e', script], new AbortController(), { graceMs: 300 });
    const outcome = supervise(base);
    await readFile(ready, 'utf8');
    process.kill(process.pid, 'SIGINT');
    await until(async () => (await readFile(got, 'utf8').catch(() => '')).includes('SIGINT'), 'the command got SIGINT', 10_000);
    process.kill(process.pid, 'SIGINT');
    expect(await outcome).toEqual({ code: 137, lost: false });
    expect((await readFile(got, 'utf8')).trim().split('\n')).toEqual(['SIGINT', 'SIGTERM']);
    expect(reports.join('\n')).toMatch(/SIGINT again: sending SIGTERM to the command, SIGKILL in 0.3 s/);
    expect(reports.join('\n')).toMatch(/did not exit: sending SIGKILL/);
  });

  it('kills at once on a third interrupt', async () => {
    const ready = fifo('ready');
    const got = join(dir.path, 'got');
    const script = `const fs = require('fs');
      for (const s of ['SIGINT', 'SIGTERM']) process.on(s, () => fs.appendFileSync(${JSON.stringify(got)}, s + '\\n'));
      fs.writeFileSync(${JSON.stringify(ready)}, 'ready'); setInterval(() => {}, 1000);`;
    const { base } = options([node, '-e', script], new AbortController(), { graceMs: 60_000 });
    const outcome = supervise(base);
    await readFile(ready, 'utf8');
    for (const expected of ['SIGINT', 'SIGTERM']) {
      process.kill(process.pid, 'SIGINT');
      await until(async () => (await readFile(got, 'utf8').catch(() => '')).includes(expected), `the command got ${expected}`, 10_000);
    }
    process.kill(process.pid, 'SIGINT');
    expect(await outcome).toEqual({ code: 137, lost: false });
  });
});

describe('SignalRelay before the program starts', () => {
  it('turns a terminating signal into an abort naming it', async () => {
    const aborted = new Promise<unknown>((resolve) => relay.signal.addEventListener('abort', () => resolve(relay.signal.reason)));
    process.kill(process.pid, 'SIGHUP');
    const reason = await aborted;
    expect(reason).toBeInstanceOf(Interrupted);
    expect((reason as Interrupted).signal).toBe('SIGHUP');
  });
});

describe('explainLoss', () => {
  it('keeps the reason and its cause without repeating name and key', async () => {
    const { explainLoss } = await import('../../src/cli/hold.js');
    const { SessionLostError } = await import('../../src/index.js');
    const reason = new LeaseLostError('lost jobs/a.b (/jobs/a.b/_c_1-lock-0000000000): the session was lost', {
      cause: new SessionLostError('session expired'),
    });
    expect(explainLoss(reason, 'jobs/a.b')).toBe('the session was lost (session expired)');
    expect(explainLoss(new LeaseLostError('lost x: its key x/1 was deleted by someone else'), 'x')).toBe('its key x/1 was deleted by someone else');
    expect(explainLoss(new LeaseLostError('something else'), 'x')).toBe('something else');
  });
});
