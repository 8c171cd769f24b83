/**
 * `baton dashboard [PREFIX]`: serves the live dashboard until interrupted. Read-only.
 * @module
 */
import { serveDashboard } from '../dashboard/server.js';
import type { Coordinator } from '../index.js';
import type { Invocation } from './args.js';
import { asCliError, backendUrl, open } from './backend.js';
import { ExitCode } from './exit-codes.js';
import { closeWithin, type Io } from './io.js';
import { SignalRelay } from './supervise.js';

export async function runDashboard(invocation: Invocation, io: Io): Promise<number> {
  const url = backendUrl(invocation.backend, undefined, io.env, invocation.command);
  using relay = new SignalRelay();
  let coord: Coordinator | undefined;
  try {
    coord = await open(url, relay.signal, invocation.command);
    const dashboard = await serveDashboard(coord, { prefix: invocation.name, port: invocation.port ?? 0 });
    io.out(`baton dashboard: ${dashboard.url}\n`);
    await new Promise<void>((resolve) => relay.signal.addEventListener('abort', () => resolve(), { once: true }));
    await dashboard.close();
    return ExitCode.OK;
  } catch (error) {
    if (relay.signal.aborted) return ExitCode.OK;
    throw asCliError(error, invocation.command);
  } finally {
    if (coord) await closeWithin(() => (coord as Coordinator).close(), 5000);
  }
}
