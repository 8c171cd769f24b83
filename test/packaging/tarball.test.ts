/**
 * The package as a user gets it: `npm pack` from a tree without dist/ (as a fresh clone is), the
 * tarball installed into a scratch project, then used by name from ESM, from CommonJS, from
 * TypeScript compiled both ways, and through `npx baton`.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const repo = resolve(import.meta.dirname, '../..');
const tsc = join(repo, 'node_modules/typescript/bin/tsc');

let work: string;
let tarball: string;
let project: string;
let packed: { files: { path: string }[] };

async function sh(file: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) {
  try {
    return await run(file, args, { cwd, env: { ...process.env, ...env }, maxBuffer: 16 << 20 });
  } catch (error) {
    const failure = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${file} ${args.join(' ')} failed: ${failure.message}\n${failure.stdout ?? ''}\n${failure.stderr ?? ''}`);
  }
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'baton-pack-'));
  // A copy of the sources without dist/, as a fresh clone has them; node_modules shared.
  const tree = join(work, 'tree');
  mkdirSync(tree);
  for (const entry of ['src', 'docs', 'package.json', 'README.md', 'LICENSE', 'tsconfig.json', 'tsconfig.build.json']) {
    cpSync(join(repo, entry), join(tree, entry), { recursive: true });
  }
  // docs/api is built locally by `npm run docs`; a stale one must not reach the tarball either.
  mkdirSync(join(tree, 'docs/api'), { recursive: true });
  writeFileSync(join(tree, 'docs/api/index.html'), '<html></html>');
  symlinkSync(join(repo, 'node_modules'), join(tree, 'node_modules'), 'dir');
  const { stdout } = await sh('npm', ['pack', '--json', '--pack-destination', work], tree);
  packed = (JSON.parse(stdout) as (typeof packed & { filename: string })[])[0]!;
  tarball = join(work, (JSON.parse(stdout) as { filename: string }[])[0]!.filename);

  project = join(work, 'app');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'scratch-app', version: '1.0.0', private: true }));
  // The registry packages it depends on come from the local cache when they are there.
  await sh('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--no-package-lock', tarball], project);
}, 400_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the packed tarball', () => {
  it('holds dist, README, LICENSE and the docs, and nothing else', () => {
    const files = packed.files.map((file) => file.path).sort();
    expect(files).toContain('dist/index.js');
    expect(files).toContain('dist/index.d.ts');
    expect(files).toContain('dist/testing.js');
    expect(files).toContain('dist/cli/main.js');
    expect(files).toContain('README.md');
    expect(files).toContain('LICENSE');
    expect(files).toContain('docs/architecture.md');
    const outside = files.filter((file) => !/^(dist\/.*\.(js|d\.ts)|docs\/[^/]+\.md|README\.md|LICENSE|package\.json)$/.test(file));
    expect(outside).toEqual([]);
    // No source maps pointing at sources that are not shipped, and no docs/api.
    expect(files.filter((file) => file.endsWith('.map') || file.startsWith('docs/api'))).toEqual([]);
    const installed = join(project, 'node_modules/baton-locks');
    expect(readFileSync(join(installed, 'dist/index.js'), 'utf8')).not.toContain('sourceMappingURL');
    expect(readFileSync(join(installed, 'LICENSE'), 'utf8')).toContain('Apache License\n                           Version 2.0, January 2004');
    expect(readFileSync(join(installed, 'LICENSE'), 'utf8')).toContain('END OF TERMS AND CONDITIONS');
  });

  it('is imported by name from an ES module', { timeout: 60_000 }, async () => {
    writeFileSync(
      join(project, 'esm.mjs'),
      `import { connect, TimeoutError } from 'baton-locks';
import { ManualClock } from 'baton-locks/testing';
const coord = await connect();
const lease = await coord.mutex('jobs/nightly').acquire();
await lease.release();
console.log(coord.backend, typeof lease.token, typeof TimeoutError, typeof ManualClock);
await coord.close();
`,
    );
    const { stdout } = await sh(process.execPath, ['esm.mjs'], project);
    expect(stdout.trim()).toBe('memory bigint function function');
  });

  it('is required by name from CommonJS', { timeout: 60_000 }, async () => {
    writeFileSync(
      join(project, 'cjs.cjs'),
      `const { connect, TimeoutError } = require('baton-locks');
const { ManualClock } = require('baton-locks/testing');
(async () => {
  const coord = await connect();
  const lease = await coord.mutex('jobs/nightly').acquire();
  await lease.release();
  console.log(coord.backend, typeof lease.token, typeof TimeoutError, typeof ManualClock);
  await coord.close();
})();
`,
    );
    const { stdout, stderr } = await sh(process.execPath, ['cjs.cjs'], project);
    expect(stdout.trim()).toBe('memory bigint function function');
    expect(stderr).toBe('');
  });

  const source = `import { connect, type Lease } from 'baton-locks';
import { ManualClock } from 'baton-locks/testing';

async function main(): Promise<void> {
  const coord = await connect({ backend: 'memory', clock: new ManualClock() });
  const lease: Lease = await coord.mutex('jobs/nightly').acquire({ timeoutMs: 1000 });
  const token: bigint = lease.token;
  await lease.release();
  await coord.close();
  console.log(coord.backend, typeof token);
}
void main();
`;

  for (const [label, compilerOptions, extension] of [
    ['nodenext (ES module)', { module: 'nodenext', moduleResolution: 'nodenext' }, 'mts'],
    ['nodenext (CommonJS)', { module: 'nodenext', moduleResolution: 'nodenext' }, 'cts'],
    ['commonjs', { module: 'commonjs', moduleResolution: 'node10', ignoreDeprecations: '5.0' }, 'ts'],
  ] as const) {
    it(`type-checks and runs TypeScript compiled under ${label} resolution`, async () => {
      const dir = join(project, `ts-${extension}-${compilerOptions.module}`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, `main.${extension}`), source);
      writeFileSync(
        join(dir, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: {
            ...compilerOptions,
            target: 'es2022',
            strict: true,
            skipLibCheck: false,
            outDir: 'out',
            typeRoots: [join(repo, 'node_modules/@types')],
            types: ['node'],
          },
          files: [`main.${extension}`],
        }),
      );
      await sh(process.execPath, [tsc, '-p', 'tsconfig.json'], dir);
      const output = join(dir, 'out', `main.${extension === 'ts' ? 'js' : extension.replace('t', 'j')}`);
      expect(existsSync(output)).toBe(true);
      if (extension !== 'mts') expect(readFileSync(output, 'utf8')).toContain('require("baton-locks")');
      const { stdout } = await sh(process.execPath, [output], dir);
      expect(stdout.trim()).toBe('memory bigint');
    }, 180_000);
  }

  it('runs `npx baton --help` from the installed package', { timeout: 120_000 }, async () => {
    const { stdout } = await sh('npx', ['--no-install', 'baton', '--help'], project);
    expect(stdout).toMatch(/^baton: run commands under distributed locks/);
    expect(stdout).toContain('baton lock NAME');
    const version = JSON.parse(readFileSync(join(project, 'node_modules/baton-locks/package.json'), 'utf8')) as { version: string };
    const { stdout: printed } = await sh('npx', ['--no-install', 'baton', '--version'], project);
    expect(printed.trim()).toBe(`baton ${version.version}`);
  });
});
