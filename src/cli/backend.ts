/**
 * Which backend the command talks to: `--backend`, else `BATON_BACKEND`; never the embedded
 * memory backend, whose locks exist only inside one process. `--ttl` is written into the URL as
 * the backend's own parameter (etcd and Redis `ttl` in seconds, ZooKeeper `sessionTimeout` in ms).
 * @module
 */
import { BatonError, backendOfScheme, ConfigError, connect, type Coordinator, ENV_VARIABLE, InvalidArgumentError } from '../index.js';
import { CliError, usageError } from './errors.js';
import { ExitCode } from './exit-codes.js';

const EXAMPLES = 'etcd://127.0.0.1:2379 or zookeeper://127.0.0.1:2181';

/** The backend URL to use, with `--ttl` applied. Throws a usage CliError when there is none. */
export function backendUrl(flag: string | undefined, ttl: number | undefined, env: NodeJS.ProcessEnv, command: string): string {
  const fromEnv = env[ENV_VARIABLE]?.trim();
  const raw = flag?.trim() || fromEnv || '';
  const source = flag?.trim() ? '--backend' : ENV_VARIABLE;
  if (raw === '' && !flag?.trim() && env[ENV_VARIABLE] !== undefined) {
    throw usageError(`${ENV_VARIABLE} is set but empty: pass --backend URL or set ${ENV_VARIABLE} to a URL (e.g. ${EXAMPLES})`, command);
  }
  if (raw === '') {
    throw usageError(`no backend: pass --backend URL or set ${ENV_VARIABLE} (e.g. ${EXAMPLES})`, command);
  }
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(raw)?.[1]?.toLowerCase();
  if (scheme === 'memory') {
    throw usageError(
      `${source} is ${JSON.stringify(raw)}, but the memory backend lives inside one process, so a baton using it excludes and sees nobody else: pass --backend or set ${ENV_VARIABLE} to an etcd or ZooKeeper URL (e.g. ${EXAMPLES})`,
      command,
    );
  }
  return ttl === undefined ? raw : withParam(raw, scheme, ttl, command);
}

/**
 * The URL a read command connects with: on PostgreSQL and Redis with `readonly=true` (connecting
 * otherwise opens a session, and creates the schema or writes the epoch key; their listings
 * delete expired entries); etcd and ZooKeeper write nothing until asked to.
 */
export function readOnlyUrl(url: string): string {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
  const kind = scheme === undefined ? undefined : backendOfScheme(scheme);
  if (kind !== 'postgres' && kind !== 'redis') return url;
  return setParam(url, 'readonly', 'true');
}

function withParam(url: string, scheme: string | undefined, ttl: number, command: string): string {
  let param: [string, string];
  const kind = scheme === undefined ? undefined : backendOfScheme(scheme);
  if (kind === 'etcd') param = ['ttl', String(ttl)];
  else if (kind === 'zookeeper') {
    // Checked here in the flag's own unit: the URL's sessionTimeout (ms) is not what the user typed.
    if (ttl < 0.1 || ttl > 3600) throw usageError(`invalid --ttl ${ttl}: on ZooKeeper --ttl must be from 0.1 to 3600 seconds`, command);
    param = ['sessionTimeout', String(Math.round(ttl * 1000))];
  }
  else if (kind === 'redis') param = ['ttl', String(ttl)];
  else throw usageError(`--ttl needs an etcd://, zookeeper:// or redis:// backend URL, not ${JSON.stringify(url)}`, command);
  return setParam(url, ...param);
}

/** `url` with the query parameter `name` set to `value` (a fragment is dropped). */
function setParam(url: string, name: string, value: string): string {
  const hash = url.indexOf('#');
  const base = hash < 0 ? url : url.slice(0, hash);
  const q = base.indexOf('?');
  const params = new URLSearchParams(q < 0 ? '' : base.slice(q + 1));
  params.set(name, value);
  return `${q < 0 ? base : base.slice(0, q)}?${params.toString()}`;
}

/** How long connecting may take when `--timeout` does not say: a backend that is down fails the command. */
export const DEFAULT_CONNECT_SECONDS = 30;
/** The least time connecting is given, however short `--timeout` is. */
export const MIN_CONNECT_SECONDS = 5;

/** The bound on connecting for a given `--timeout`: that timeout, within [MIN, DEFAULT]. */
export function connectSeconds(timeout: number | undefined): number {
  if (timeout === undefined) return DEFAULT_CONNECT_SECONDS;
  return Math.min(DEFAULT_CONNECT_SECONDS, Math.max(MIN_CONNECT_SECONDS, timeout));
}

/** The URL without its password, for messages. */
export function redact(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/]*):[^@/]*@/i, '$1:***@');
}

/**
 * Connects, giving up when `signal` aborts (with its reason) or after `connectSeconds` (a backend
 * error). Configuration errors become usage errors; everything else a backend error.
 */
export async function open(url: string, signal: AbortSignal, command: string, connectSeconds = DEFAULT_CONNECT_SECONDS): Promise<Coordinator> {
  signal.throwIfAborted();
  const connecting = connect(url);
  let onAbort: (() => void) | undefined;
  let timer: NodeJS.Timeout | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    timer = setTimeout(
      () => reject(new CliError(`could not connect to ${redact(url)} within ${connectSeconds} s`, ExitCode.BACKEND)),
      connectSeconds * 1000,
    );
  });
  try {
    return await Promise.race([connecting, aborted]);
  } catch (error) {
    // A connection that completes after we gave up must still be closed.
    connecting.then((coord) => coord.close()).catch(() => {});
    if (signal.aborted && error === signal.reason) throw error;
    throw asCliError(error, command);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
}

/** Maps a library error to the command's one-line report. */
export function asCliError(error: unknown, command: string): CliError {
  if (error instanceof CliError) return error;
  if (error instanceof ConfigError || error instanceof InvalidArgumentError) return usageError(error.message, command);
  const message = error instanceof Error ? error.message : String(error);
  const kind = error instanceof BatonError ? '' : 'backend failure: ';
  return new CliError(`${kind}${message}`, ExitCode.BACKEND);
}

/** Checks a name as the library does, before any connection is made. */
export async function checkName(name: string, command: string): Promise<void> {
  // The embedded backend only serves to run the library's own name check without a network.
  const probe = await connect('memory://');
  try {
    probe.mutex(name);
  } catch (error) {
    throw asCliError(error, command);
  } finally {
    await probe.close();
  }
}
