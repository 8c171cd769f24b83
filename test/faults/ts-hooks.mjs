/**
 * Lets plain `node` run the fault suite's TypeScript (and the shared test/support helpers) without
 * a build step: `node --import ./test/faults/ts-hooks.mjs test/faults/run.ts`. Node 20 cannot
 * strip types itself, so each .ts module is transpiled on load with the project's own
 * TypeScript (types are erased, nothing is checked here: `npm run typecheck` checks them), and a
 * relative `./x.js` import from a .ts module is resolved to `./x.ts` when that file exists, as
 * the project's NodeNext sources are written.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { register } from 'node:module';
import { isMainThread } from 'node:worker_threads';

// Imported with --import on the main thread: register this same file as the loader. Node runs
// loaders on their own thread, where the hooks below are what it uses.
if (isMainThread) register(import.meta.url);

export async function resolve(specifier, context, nextResolve) {
  if (context.parentURL?.endsWith('.ts') && specifier.startsWith('.') && specifier.endsWith('.js')) {
    const candidate = new URL(`${specifier.slice(0, -3)}.ts`, context.parentURL);
    if (existsSync(candidate)) return { url: candidate.href, shortCircuit: true };
  }
  return nextResolve(specifier, context);
}

let typescript;

export async function load(url, context, nextLoad) {
  if (!url.endsWith('.ts')) return nextLoad(url, context);
  typescript ??= (await import('typescript')).default;
  const source = await readFile(new URL(url), 'utf8');
  const { outputText } = typescript.transpileModule(source, {
    fileName: url,
    compilerOptions: {
      module: typescript.ModuleKind.ESNext,
      target: typescript.ScriptTarget.ES2022,
      inlineSourceMap: true,
    },
  });
  return { format: 'module', source: outputText, shortCircuit: true };
}
