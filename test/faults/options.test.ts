/**
 * The fault runner's command line: `--help` prints the usage and exits 0, a bad option is a
 * clear error (exit 2) at once, before any cluster starts, and the plan picks the runs asked for.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BACKENDS } from './clusters.js';
import { parseFaultArgs, usage, UsageError } from './options.js';
import { SCENARIOS } from './scenarios.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** Starting the runner transpiles its modules on load: seconds, many on a loaded machine. */
const SPAWN_TIMEOUT_MS = 90_000;

/** The runner as `npm run test:faults` starts it, minus the build. */
function runner(...args: string[]) {
  return spawnSync(process.execPath, ['--import', './test/faults/ts-hooks.mjs', 'test/faults/run.ts', ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: SPAWN_TIMEOUT_MS,
  });
}

describe('fault runner command line', () => {
  it('--help prints the options, every scenario and every backend, and exits 0', () => {
    const result = runner('--help');
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('Usage: npm run test:faults -- [options]');
    for (const option of ['--short', '--soak', '--duration', '--scenario', '--exclude', '--backend', '--keep', '--history', '--list']) {
      expect(result.stdout).toContain(option);
    }
    for (const scenario of SCENARIOS) expect(result.stdout).toMatch(new RegExp(`^  ${scenario.name} +${(scenario.backends ?? BACKENDS).join(', ')}$`, 'm'));
    expect(result.stdout).toContain(`Backends: ${BACKENDS.join(', ')}`);
  }, SPAWN_TIMEOUT_MS);

  it('an unknown option exits 2 naming it, with no stack trace', () => {
    const result = runner('--short', '--bogus');
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain("Unknown option '--bogus'");
    expect(result.stderr).toContain('--help');
    expect(result.stderr).not.toMatch(/\n\s+at /);
  }, SPAWN_TIMEOUT_MS);

  it('parses -h and --help alike, and --list', () => {
    expect(parseFaultArgs(['-h'])).toEqual({ kind: 'help' });
    expect(parseFaultArgs(['--short', '--help'])).toEqual({ kind: 'help' });
    expect(parseFaultArgs(['--list'])).toEqual({ kind: 'list' });
    expect(usage()).toContain('-h, --help');
  });

  it('rejects unknown scenarios, backends, pairs and bad numbers with the reason', () => {
    expect(() => parseFaultArgs(['--scenario', 'leader-kil'])).toThrow(UsageError);
    expect(() => parseFaultArgs(['--scenario', 'leader-kil'])).toThrow(/--scenario: unknown leader-kil; known: leader-kill/);
    expect(() => parseFaultArgs(['--scenario', 'follower-isolation@etcd'])).toThrow(/unknown follower-isolation@etcd/);
    expect(() => parseFaultArgs(['--backend', 'mysql'])).toThrow(/--backend: unknown mysql/);
    expect(() => parseFaultArgs(['--ttl', '0'])).toThrow(/--ttl 0: expected a positive number/);
    expect(() => parseFaultArgs(['stray'])).toThrow(UsageError);
  });

  it('plans the scenarios and pairs asked for, less the excluded ones', () => {
    const plan = parseFaultArgs(['--short', '--scenario', 'client-pause,outage@zookeeper', '--exclude', 'client-pause@redis']);
    if (plan.kind !== 'run') throw new Error(`expected a run plan, got ${plan.kind}`);
    expect(plan.runs('client-pause', 'etcd')).toBe(true);
    expect(plan.runs('client-pause', 'redis')).toBe(false);
    expect(plan.runs('outage', 'zookeeper')).toBe(true);
    expect(plan.runs('outage', 'etcd')).toBe(false);
    expect(plan.options.faultMs).toBe(3000);
    expect(plan.options.tailMs).toBe(4000);
    expect(plan.backends).toEqual([...BACKENDS]);
  });
});
