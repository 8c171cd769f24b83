/**
 * Code in the README and docs/*.md runs as written. Every ```ts and ```js block is a complete
 * module: TypeScript blocks are type-checked together (strict, `nodenext`, against the built
 * package, imported by its name) and compiled as a user's TypeScript would be; every block then
 * runs with Node on the embedded backend and must exit 0. A block that needs a server is marked
 * `<!-- not run: REASON -->` on the line before it: it is still type-checked, not run.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const repo = resolve(import.meta.dirname, '../..');

export interface CodeBlock {
  readonly file: string;
  readonly line: number;
  readonly language: 'ts' | 'js';
  readonly code: string;
  /** Why the block is only type-checked, from its `<!-- not run: ... -->` marker. */
  readonly notRun: string | undefined;
}

/** The ```ts/```js blocks of a Markdown text, fences indented or not. */
export function codeBlocks(file: string, text: string): CodeBlock[] {
  const blocks: CodeBlock[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^( *)```(ts|typescript|js|javascript|mjs)\s*$/.exec(lines[i]!);
    if (!open) {
      if (/^ *```/.test(lines[i]!)) i = closingFence(lines, i);
      continue;
    }
    const indent = open[1]!.length;
    const end = closingFence(lines, i);
    const code = lines
      .slice(i + 1, end)
      .map((line) => line.slice(Math.min(indent, line.length - line.trimStart().length)))
      .join('\n');
    const marker = /<!--\s*not run:\s*(.*?)\s*-->/.exec(lines[i - 1] ?? '') ?? /<!--\s*not run:\s*(.*?)\s*-->/.exec(lines[i - 2] ?? '');
    blocks.push({ file, line: i + 1, language: open[2]!.startsWith('t') ? 'ts' : 'js', code: `${code}\n`, notRun: marker?.[1] });
    i = end;
  }
  return blocks;
}

function closingFence(lines: readonly string[], start: number): number {
  for (let j = start + 1; j < lines.length; j++) if (/^ *```\s*$/.test(lines[j]!)) return j;
  throw new Error(`unclosed code fence at line ${start + 1}`);
}

const documents = ['README.md', ...readdirSync(join(repo, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
const blocks = documents.flatMap((file) => codeBlocks(file, readFileSync(join(repo, file), 'utf8')));
const fileOf = (block: CodeBlock) => `${block.file.replace(/[/.]/g, '_')}_${block.line}.${block.language === 'ts' ? 'mts' : 'mjs'}`;

let dir: string;

beforeAll(() => {
  // Inside the package, so that `import ... from 'baton-locks'` resolves to this package itself.
  mkdirSync(join(repo, '.tmp'), { recursive: true });
  dir = mkdtempSync(join(repo, '.tmp', 'doc-blocks-'));
  for (const block of blocks) writeFileSync(join(dir, fileOf(block)), block.code);
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('code blocks in README.md and docs/*.md', () => {
  it('finds the blocks, and the README quick start among them', () => {
    expect(blocks.filter((b) => b.file === 'README.md' && b.notRun === undefined).length).toBeGreaterThanOrEqual(3);
    expect(blocks.some((b) => b.file === 'README.md' && b.language === 'js')).toBe(true);
  });

  it('a block that is not run says why, and is TypeScript (so it is type-checked)', () => {
    for (const block of blocks.filter((b) => b.notRun !== undefined)) {
      expect(block.notRun, `${block.file}:${block.line}`).toMatch(/\w{3,}/);
      expect(block.language, `${block.file}:${block.line}`).toBe('ts');
    }
  });

  it('every TypeScript block type-checks under strict nodenext against the package', () => {
    const files = blocks.filter((b) => b.language === 'ts').map((b) => join(dir, fileOf(b)));
    const program = ts.createProgram(files, {
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
      lib: ['lib.es2023.d.ts', 'lib.esnext.disposable.d.ts'],
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      types: ['node'],
      typeRoots: [join(repo, 'node_modules/@types')],
    });
    const problems = ts.getPreEmitDiagnostics(program).map((d) => {
      const where = d.file ? `${d.file.fileName.slice(dir.length + 1)}:${d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1}` : '';
      return `${where} ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
    });
    expect(problems).toEqual([]);
  }, 180_000); // one type-check of every block: seconds alone, much more on a busy machine

  for (const block of blocks) {
    const label = `${block.file}:${block.line} (${block.language})`;
    if (block.notRun !== undefined) continue;
    it(`${label} runs on the embedded backend and exits 0`, async () => {
      let file = join(dir, fileOf(block));
      if (block.language === 'ts') {
        // As a user's TypeScript build would emit it (`await using` is lowered for Node 20).
        const { outputText } = ts.transpileModule(block.code, {
          compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
        });
        file = file.replace(/\.mts$/, '.compiled.mjs');
        writeFileSync(file, outputText);
      }
      const env: NodeJS.ProcessEnv = { ...process.env };
      delete env.BATON_BACKEND;
      let outcome: { code: number; stderr: string };
      try {
        const { stderr } = await run(process.execPath, [file], { cwd: dir, env, timeout: 20_000 });
        outcome = { code: 0, stderr };
      } catch (error) {
        const failure = error as { code?: number; stderr?: string; signal?: string };
        outcome = { code: failure.code ?? -1, stderr: `${failure.signal ?? ''} ${failure.stderr ?? ''}` };
      }
      expect(outcome).toEqual({ code: 0, stderr: '' });
    });
  }
});
