/**
 * No import cycles in src/: every relative import of every module is followed, type-only ones
 * included (a type import is still a dependency a reader has to hold in mind), and any cycle
 * found fails the test with its modules in order.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** The relative module specifiers of a file: static imports and re-exports, and `import('…')`. */
function relativeImports(text: string): string[] {
  const found: string[] = [];
  // Comments first, so that an example in a doc comment is not read as an import.
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const patterns = [/\b(?:import|export)\s[^'"`;]*?\sfrom\s*['"](\.{1,2}\/[^'"]+)['"]/g, /\bimport\s*['"](\.{1,2}\/[^'"]+)['"]/g, /\bimport\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g];
  for (const pattern of patterns) for (const match of code.matchAll(pattern)) found.push(match[1]!);
  return found;
}

/** The dependency graph of src/, by path relative to src/. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(SRC)) {
    const targets = relativeImports(readFileSync(file, 'utf8')).map((specifier) => {
      const target = resolve(dirname(file), specifier).replace(/\.js$/, '.ts');
      return relative(SRC, target.endsWith('.ts') ? target : `${target}.ts`);
    });
    graph.set(relative(SRC, file), [...new Set(targets)]);
  }
  return graph;
}

/** Every elementary cycle's first sighting in a depth-first walk (enough to name each one). */
function findCycles(graph: Map<string, string[]>): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, 'active' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string): void => {
    state.set(node, 'active');
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === 'active') cycles.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, 'done');
  };
  for (const node of [...graph.keys()].sort()) if (!state.has(node)) visit(node);
  return cycles;
}

describe('import cycles in src/', () => {
  it('reads static, type-only, side-effect and dynamic relative imports', () => {
    const text = [
      "import a from './a.js';",
      "import type { B } from '../b.js';",
      "export { c } from './c.js';",
      "import './d.js';",
      "const e = await import('./e.js');",
      "import {\n  f,\n  type G,\n} from './f.js';",
      "// import x from './commented.js';",
      "/** import y from './documented.js' */",
      "import z from 'node:fs';",
    ].join('\n');
    expect(relativeImports(text).sort()).toEqual(['../b.js', './a.js', './c.js', './d.js', './e.js', './f.js']);
  });

  it('finds a cycle when there is one', () => {
    const graph = new Map([
      ['a.ts', ['b.ts']],
      ['b.ts', ['c.ts']],
      ['c.ts', ['a.ts']],
      ['d.ts', ['a.ts']],
    ]);
    expect(findCycles(graph)).toEqual([['a.ts', 'b.ts', 'c.ts', 'a.ts']]);
  });

  it('every module of src/ exists where its importers say, and none imports itself back', () => {
    const graph = importGraph();
    expect(graph.size).toBeGreaterThan(20);
    const missing = [...graph].flatMap(([from, targets]) => targets.filter((target) => !graph.has(target)).map((target) => `${from} -> ${target}`));
    expect(missing).toEqual([]);
    expect(findCycles(graph).map((cycle) => cycle.join(' -> '))).toEqual([]);
  });
});
