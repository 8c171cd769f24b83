/**
 * The scene of the tests of position reports across two coordinators of one process: A on the
 * server directly, B through a proxy the test controls. A holds a lock and queues two waiters,
 * the second of which can give up; B's waiter queues behind the three and has been told it has 2
 * ahead. The test then holds B's answers back, makes A's changes, and reads B's reports.
 */
import { type Coordinator, connect, type Lease } from '../../src/index.js';
import { keysUntil } from './keys-until.js';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.js';
import { until } from './until.js';

export interface PositionsScene {
  readonly a: Coordinator;
  readonly b: Coordinator;
  /** Between B and the server. */
  readonly proxy: TcpProxy;
  readonly holder: Lease;
  /** A's first waiter, next in line. */
  readonly next: Promise<Lease>;
  /** Aborting it makes A's second waiter give up. */
  readonly giveUp: AbortController;
  /** A's second waiter, and its key. */
  readonly quitter: Promise<Lease>;
  readonly quitterKey: string;
  /** B's waiter, and every position it was told. */
  readonly waiter: Promise<Lease>;
  readonly reports: number[];
  /** Closes both coordinators and the proxy. */
  close(): Promise<void>;
}

/** Sets the scene on `name` at `endpoint` (host:port); `url` makes a coordinator's URL for an endpoint. */
export async function positionsScene(endpoint: string, url: (endpoint: string) => string, name: string): Promise<PositionsScene> {
  const [host, port] = endpoint.split(':') as [string, string];
  const proxy = await startTcpProxy(Number(port), host);
  const a = await connect(url(endpoint));
  const b = await connect(url(`127.0.0.1:${proxy.port}`));
  const close = async () => {
    await Promise.all([a.close(), b.close()]);
    await proxy.close();
  };
  try {
    const holder = await a.mutex(name).acquire();
    const next = a.mutex(name).acquire();
    const giveUp = new AbortController();
    const quitter = a.mutex(name).acquire({ signal: giveUp.signal });
    for (const pending of [next, quitter]) pending.catch(() => {});
    // One coordinator's acquires queue in call order: the quitter's is the third key.
    const [, , quitterKey] = (await keysUntil(a, name, (keys) => keys.length === 3)) as [string, string, string];
    const reports: number[] = [];
    const waiter = b.mutex(name).acquire({ onQueued: (position) => reports.push(position) });
    waiter.catch(() => {});
    // Behind the holder and two waiters: 2 waiters ahead.
    await until(() => reports.at(-1) === 2, () => `B's waiter told 2 ahead (reports ${reports})`, 20_000);
    // And A has seen B's waiter queue.
    await keysUntil(a, name, (keys) => keys.length === 4);
    return { a, b, proxy, holder, next, giveUp, quitter, quitterKey, waiter, reports, close };
  } catch (error) {
    await close();
    throw error;
  }
}
