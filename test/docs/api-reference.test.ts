/**
 * The API reference as typedoc builds it (`npm run docs`), checked where users found it lacking:
 * every acquire-like call lists the errors it rejects with, GuardedOp and the testing entry point
 * are documented, error classes do not carry Error's inherited statics, and no [asyncDispose]
 * appears twice. The whole build (convert, validate, render, as `npm run docs` does, into a
 * temporary directory) gives no warning: a type an export refers to but the reference leaves out
 * is a dead end for the reader, and `npm run docs` fails on it (treatWarningsAsErrors).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Application, type DeclarationReflection, Logger, LogLevel, type ProjectReflection, ReflectionKind } from 'typedoc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repo = resolve(import.meta.dirname, '../..');
const out = mkdtempSync(join(tmpdir(), 'baton-api-'));
let project: ProjectReflection;
/** Every warning and error of the build, in order. */
const complaints: string[] = [];

/** A logger that keeps what the build complains of, for the test to show. */
class Recorder extends Logger {
  override log(message: string, level: LogLevel): void {
    super.log(message, level);
    if (level >= LogLevel.Warn) complaints.push(message);
  }
}

beforeAll(async () => {
  const app = await Application.bootstrapWithPlugins({
    options: resolve(repo, 'typedoc.json'),
    tsconfig: resolve(repo, 'tsconfig.build.json'),
    entryPoints: [resolve(repo, 'src/index.ts'), resolve(repo, 'src/testing.ts')],
    out,
  });
  app.logger = new Recorder();
  const converted = await app.convert();
  if (!converted) throw new Error(`typedoc could not convert the sources: ${complaints.join('; ')}`);
  project = converted;
  app.validate(project);
  await app.generateOutputs(project);
}, 240_000);

afterAll(() => rmSync(out, { recursive: true, force: true }));

function module(name: string): DeclarationReflection {
  return project.getChildByName(name) as DeclarationReflection;
}

function member(path: string): DeclarationReflection {
  const found = project.getChildByName(path.split('.')) as DeclarationReflection | undefined;
  if (!found) throw new Error(`${path} is not in the reference`);
  return found;
}

function throwsOf(path: string): string[] {
  const reflection = member(path);
  const comment = reflection.signatures?.[0]?.comment ?? reflection.comment;
  return (comment?.blockTags ?? []).filter((tag) => tag.tag === '@throws').map((tag) => tag.content.map((part) => part.text).join(''));
}

describe('the API reference', () => {
  it('builds with no warning (every type an export refers to is in the reference)', () => {
    expect(complaints).toEqual([]);
  });

  it('lists the errors every acquiring call can reject with', () => {
    const calls = [
      'index.Mutex.acquire',
      'index.Mutex.tryAcquire',
      'index.Mutex.withLock',
      'index.Semaphore.acquire',
      'index.Semaphore.tryAcquire',
      'index.Semaphore.withPermit',
      'index.ReadWriteLock.read',
      'index.ReadWriteLock.write',
      'index.ReadWriteLock.tryRead',
      'index.ReadWriteLock.tryWrite',
      'index.ReadWriteLock.withReadLock',
      'index.ReadWriteLock.withWriteLock',
      'index.Election.campaign',
      'index.Election.withLeadership',
      'index.Election.leader',
      'index.Election.observe',
      'index.connect',
      'index.Coordinator.mutex',
      'index.Lease.guardedWrite',
      'index.Leadership.proclaim',
    ];
    const missing = calls.filter((call) => throwsOf(call).length === 0);
    expect(missing).toEqual([]);
    const acquire = throwsOf('index.Mutex.acquire').join('\n');
    for (const error of ['InvalidArgumentError', 'TimeoutError', 'AbortError', 'SessionLostError', 'ClosedError', 'BackendError']) expect(acquire).toContain(error);
  });

  it('documents GuardedOp where it is exported, and the testing entry point with its helpers', () => {
    expect(member('index.GuardedOp').comment?.summary.map((p) => p.text).join('')).toMatch(/put: key, value/);
    const testing = module('testing');
    expect(testing.comment?.summary.map((p) => p.text).join('')).toMatch(/ManualClock|test fake/);
    for (const name of ['ManualClock', 'MemoryBackend', 'MemoryFaults', 'backendOf']) {
      const reflection = member(`testing.${name}`);
      expect(reflection.comment ?? reflection.signatures?.[0]?.comment, name).toBeDefined();
    }
  });

  it('shows error classes without the statics they inherit from Error', () => {
    for (const name of ['BatonError', 'TimeoutError', 'LeaseLostError', 'ConfigError']) {
      const statics = (member(`index.${name}`).children ?? []).filter((child) => child.flags.isStatic).map((child) => child.name);
      expect(statics, name).toEqual([]);
    }
  });

  it('has no [asyncDispose] entry twice, nor one with two signatures', () => {
    const problems: string[] = [];
    for (const reflection of project.getReflectionsByKind(ReflectionKind.ClassOrInterface) as DeclarationReflection[]) {
      const disposers = (reflection.children ?? []).filter((child) => child.name === '[asyncDispose]');
      if (disposers.length > 1 || disposers.some((d) => (d.signatures?.length ?? 0) > 1)) problems.push(reflection.getFullName());
    }
    expect(problems).toEqual([]);
  });
});
