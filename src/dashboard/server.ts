/**
 * A live dashboard of every name under a prefix, served over HTTP on loopback: the page at `/`,
 * server-sent events at `/events` (one `snapshot` event per change, a `trouble` event while the
 * backend cannot be read), and the current state at `/snapshot.json`.
 *
 * Updates are pushed from the backend's watch of the prefix: the server scans once, arms the
 * watch with the scan, and scans again only when the watch fires. Nothing is polled. A double
 * barrier's members sit under `.baton/<name>/.members`, outside the name's prefix, so with a
 * prefix its internal keys (`.baton/<prefix>`) are scanned too; and its ready flag is a plain key
 * that no scan sees, so each double barrier found has its flag watched as well.
 * @module
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Backend, ScannedKey, Watched } from '../backends/contract.js';
import { backendOf, type Coordinator } from '../coordinator.js';
import { InvalidArgumentError } from '../errors.js';
import { doubleBarrierOfMembers, internalPrefixOf, readyFlagKey } from '../recipes/plain-keys.js';
import { checkName, checkSignal, describe } from '../validate.js';
import { buildSnapshot, type DashboardSnapshot, Sightings } from './model.js';
import { DASHBOARD_PAGE } from './page.js';

export type { DashboardSnapshot, DashboardName, DashboardMember, NameKind } from './model.js';

/** Options of {@link serveDashboard}. */
export interface DashboardOptions {
  /** Show names under this prefix only (segments joined by `/`); omitted: every name. */
  prefix?: string;
  /** TCP port; 0 or omitted picks a free one. */
  port?: number;
  /** Interface to listen on. Loopback by default: the page shows every holder and value. */
  host?: string;
  /** Stops the server when it aborts. */
  signal?: AbortSignal;
}

/** A running dashboard. */
export interface Dashboard extends AsyncDisposable {
  /** The page's address, e.g. `http://127.0.0.1:8080/`. */
  readonly url: string;
  /** The latest snapshot, once the first scan completed. */
  readonly snapshot: DashboardSnapshot | undefined;
  /** Stops serving and ends every event stream. Idempotent. */
  close(): Promise<void>;
}

/** After a failed scan, wait this long before trying again: short, so the page recovers quickly. */
const RETRY_MS = 500;

/**
 * Serves the dashboard for `coord`'s backend. Resolves once listening; the first snapshot follows
 * as soon as the first scan completes. Throws InvalidArgumentError for bad options, and a
 * BackendError-free error naming the backend when its adapter implements no scan.
 */
export async function serveDashboard(coord: Coordinator, options: DashboardOptions = {}): Promise<Dashboard> {
  const prefix = options.prefix === undefined || options.prefix === '' ? '' : checkName(options.prefix, 'prefix');
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidArgumentError(`invalid port ${describe(port)}: port must be an integer from 0 to 65535 (0 picks a free port)`);
  }
  const host = options.host ?? '127.0.0.1';
  const stop = new AbortController();
  const outer = checkSignal(options.signal);
  const backend = backendOf(coord);
  // Every built-in backend scans; an adapter written elsewhere may leave the optional method out.
  if (!backend.scan) throw new InvalidArgumentError(`the ${backend.kind} backend adapter implements no scan (Backend.scan), which the dashboard needs`);

  const streams = new Set<ServerResponse>();
  let latest: DashboardSnapshot | undefined;
  const send = (response: ServerResponse, event: string, data: unknown) =>
    response.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  const broadcast = (event: string, data: unknown) => {
    for (const response of streams) send(response, event, data);
  };

  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const path = new URL(request.url ?? '/', 'http://dashboard').pathname;
    if (request.method !== 'GET') {
      response.writeHead(405, { allow: 'GET' }).end('only GET\n');
    } else if (path === '/') {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(DASHBOARD_PAGE);
    } else if (path === '/events') {
      response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
      streams.add(response);
      request.on('close', () => streams.delete(response));
      if (latest) send(response, 'snapshot', latest);
    } else if (path === '/snapshot.json') {
      response.writeHead(latest ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(latest ?? { error: 'no scan yet' }));
    } else {
      response.writeHead(404).end('not found\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}/`;

  const onOuterAbort = () => void close();
  outer?.addEventListener('abort', onOuterAbort, { once: true });
  const following = follow(backend, prefix, stop.signal, (snapshot) => {
    latest = snapshot;
    broadcast('snapshot', snapshot);
  }, (error) => broadcast('trouble', { message: error instanceof Error ? error.message : String(error) }));

  let closing: Promise<void> | undefined;
  function close(): Promise<void> {
    closing ??= (async () => {
      outer?.removeEventListener('abort', onOuterAbort);
      stop.abort();
      for (const response of streams) response.end();
      streams.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await following;
    })();
    return closing;
  }
  if (outer?.aborted) await close();

  return {
    url,
    get snapshot() {
      return latest;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** Scan, publish, wait for the scan's watches to fire, again; until `signal` aborts. */
async function follow(
  backend: Backend,
  prefix: string,
  signal: AbortSignal,
  publish: (snapshot: DashboardSnapshot) => void,
  trouble: (error: unknown) => void,
): Promise<void> {
  const sightings = new Sightings();
  const scan = backend.scan?.bind(backend);
  if (!scan) return;
  while (!signal.aborted) {
    // The watches of one round: the first to fire ends it, and the others are cancelled.
    const round = new AbortController();
    const roundSignal = AbortSignal.any([signal, round.signal]);
    const changes: Promise<void>[] = [];
    const watching = <T>(watched: Promise<Watched<T>>): Promise<T> =>
      watched.then((w) => {
        void w.changed.catch(() => {});
        changes.push(w.changed);
        return w.current;
      });
    try {
      const internal = internalPrefixOf(prefix);
      const scans = await Promise.all([watching(scan(prefix, roundSignal)), ...(internal === '' ? [] : [watching(scan(internal, roundSignal))])]);
      const keys = scans.flatMap((result) => result.keys);
      const sessions = new Map(scans.flatMap((result) => [...(result.sessions ?? [])]));
      const ready = await readyFlags(backend, keys, (name) => watching(backend.values!.watch(readyFlagKey(name), roundSignal)));
      publish(buildSnapshot({ prefix, backend: backend.kind, keys, sessions, ready }, sightings));
      await Promise.race(changes);
    } catch (error) {
      if (signal.aborted) return;
      trouble(error);
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, RETRY_MS);
        signal.addEventListener('abort', () => (clearTimeout(timer), resolve(undefined)), { once: true });
      });
    } finally {
      round.abort();
    }
  }
}

/** The double barriers among `keys` whose ready flag is set, each flag read by `watchFlag`. */
async function readyFlags(backend: Backend, keys: readonly ScannedKey[], watchFlag: (name: string) => Promise<unknown>): Promise<Set<string>> {
  const barriers = new Set<string>();
  for (const key of keys) {
    const barrier = doubleBarrierOfMembers(key.parent);
    if (barrier !== undefined) barriers.add(barrier);
  }
  // A backend without plain keys has no double barriers.
  if (!backend.values) return new Set();
  const flags = await Promise.all([...barriers].map(async (name) => ({ name, set: (await watchFlag(name)) !== undefined })));
  return new Set(flags.filter((flag) => flag.set).map((flag) => flag.name));
}
