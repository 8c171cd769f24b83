// Shared by every benchmark script: command-line options, free loopback ports, and writing
// results into docs/benchmarks.md.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';

/** The number after `--name`, or `fallback`. */
export const arg = (name, fallback) => {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? Number(process.argv[index + 1]) : fallback;
};

/** Whether `--name` was given. */
export const flag = (name) => process.argv.includes(`--${name}`);

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const BENCHMARKS_PATH = fileURLToPath(new URL('../docs/benchmarks.md', import.meta.url));

/**
 * Replaces the whole `## heading` section of docs/benchmarks.md with `text` (creating the file or
 * appending the section when missing), so that the page shows each benchmark's latest run only.
 * Other sections are left as they are.
 */
export function writeSection(heading, text) {
  let doc;
  try {
    doc = readFileSync(BENCHMARKS_PATH, 'utf8');
  } catch {
    doc = '# Benchmarks\n';
  }
  const headingLine = new RegExp(`^## ${heading.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm');
  const section = `## ${heading}\n\n${text.trim()}\n`;
  const start = doc.search(headingLine);
  if (start < 0) {
    writeFileSync(BENCHMARKS_PATH, `${doc.trimEnd()}\n\n${section}`);
    return;
  }
  const next = doc.slice(start + 1).search(/^## /m);
  const rest = next < 0 ? '' : `\n${doc.slice(start + 1 + next)}`;
  writeFileSync(BENCHMARKS_PATH, `${doc.slice(0, start)}${section}${rest}`);
}

/**
 * Runs a benchmark program to its end and returns the object of its "JSON {...}" line (the
 * uncontended runs print one); throws with the program's last words if it fails or prints none.
 */
export function jsonResult(command, args, timeoutMs = 300_000) {
  const out = execFileSync(command, args, { encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
  const line = /^JSON (.*)$/m.exec(out);
  if (!line) throw new Error(`${command} ${args.join(' ')} printed no JSON line: ${out.trim().split('\n').slice(-3).join(' | ')}`);
  return JSON.parse(line[1]);
}

/** The first group of `pattern` in what `command args` prints (stdout, then stderr), or 'unknown'. */
export function versionOf(command, args, pattern) {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  return pattern.exec(`${result.stdout ?? ''}${result.stderr ?? ''}`)?.[1] ?? 'unknown';
}

/** The installed version of a Debian package, or 'unknown'. */
export const debianVersion = (pkg) => versionOf('dpkg-query', ['-W', '-f=${Version}', pkg], /^(\S+)/);

/** The current UTC time as `YYYY-MM-DD HH:MM`, for a section's date. */
export const utcMinute = () => new Date().toISOString().slice(0, 16).replace('T', ' ');

/**
 * The closing "Machine:" line of a section: CPUs (nproc, else os.cpus()), model, Node, `software`
 * (the servers and client libraries measured) and the load at the end.
 */
export function machineLine(software) {
  let nproc = String(cpus().length);
  try {
    nproc = execFileSync('nproc', { encoding: 'utf8' }).trim();
  } catch {
    // os.cpus() then
  }
  const parts = [`${nproc} CPUs (\`nproc\`), ${cpus()[0]?.model ?? 'unknown'}`, `Node ${process.version}`, ...software];
  return `Machine: ${parts.join('; ')}; 1-minute load average ${loadavg()[0].toFixed(1)} at the end (the machine is shared: figures vary between runs).`;
}
