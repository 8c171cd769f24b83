/**
 * Runs one scenario on one cluster: starts the protected resource and the client processes,
 * lets the nemesis loose, waits out a quiet tail, stops the clients, looks for keys left
 * behind, saves the history and checks it. The history directory is removed when the run passes
 * (unless asked to keep it) and kept when it fails, for `node test/faults/check.mjs <dir>`.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { closeSync, mkdirSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { checkHistory, type Report } from './checker.js';
import type { Cluster, StoredKey } from './clusters.js';
import { type ClientEvent, type ClientExit, type Final, loadHistory, type Meta } from './history.js';
import type { ClientHandle, NemesisContext } from './nemeses.js';
import { startResource } from './resource.js';
import type { Scenario } from './scenarios.js';

export interface RunOptions {
  clients: number;
  ttlMs: number;
  timeoutMs: number;
  /** How long faults go on. */
  faultMs: number;
  /** The quiet tail after the last heal, in which every client must acquire again. */
  tailMs: number;
  /** The pause between a holder's read and its write. */
  workMs: number;
  /** How long a holder keeps its hold after its work. */
  holdMs: number;
  historyRoot: string;
  keepPassing: boolean;
}

const CLIENT_SCRIPT = fileURLToPath(new URL('./client.mjs', import.meta.url));

const hrnow = () => process.hrtime.bigint().toString();

/** The machine, for reports: cores, memory, node, and how loaded it is now. */
export function describeMachine(): string {
  const cpu = cpus();
  return `${cpu.length} x ${cpu[0]?.model.trim() ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}, load average ${loadavg()[0]!.toFixed(1)}`;
}

interface Client extends ClientHandle {
  child: ChildProcess;
  exit: Promise<ClientExit>;
  proxies: TcpProxy[];
}

export async function runScenario(cluster: Cluster, scenario: Scenario, options: RunOptions): Promise<{ report: Report; dir: string }> {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const runId = `${scenario.name}-${cluster.backend}-${stamp}`;
  const dir = join(options.historyRoot, runId);
  mkdirSync(dir, { recursive: true });
  const t0 = hrnow();
  const meta: Meta = {
    scenario: scenario.name,
    backend: cluster.backend,
    recipe: scenario.recipe,
    permits: scenario.permits ?? 1,
    fenced: scenario.fenced ?? true,
    guarded: scenario.guarded ?? false,
    clients: options.clients,
    ttlMs: options.ttlMs,
    timeoutMs: options.timeoutMs,
    expectViolation: scenario.expectViolation ?? false,
    t0,
    machine: describeMachine(),
  };
  writeFileSync(join(dir, 'meta.json'), `${JSON.stringify(meta, null, 2)}\n`);
  const nemesisFd = openSync(join(dir, 'nemesis.jsonl'), 'a');
  const resourceFd = openSync(join(dir, 'resource.jsonl'), 'a');
  const log = (ev: string, fields: Record<string, unknown> = {}) => writeSync(nemesisFd, `${JSON.stringify({ t: hrnow(), ev, ...fields })}\n`);
  const resource = await startResource({ fenced: meta.fenced, log: (entry) => writeSync(resourceFd, `${JSON.stringify(entry)}\n`) });
  const lockName = `faults/${runId}`;
  const counterName = `faults-counter/${runId}`;
  const bus = new EventEmitter();
  bus.setMaxListeners(100);

  const clients: Client[] = [];
  const killedByRunner = new Set<number>();
  let clientExits: ClientExit[] = [];
  try {
    for (let id = 0; id < options.clients; id++) {
      const members = scenario.endpointsOf?.(id) ?? [...cluster.endpoints.keys()];
      const proxies: TcpProxy[] = [];
      let endpoints = members.map((m) => cluster.endpoints[m]!);
      if (scenario.proxied) {
        for (const endpoint of endpoints) proxies.push(await startTcpProxy(Number(endpoint.split(':')[1])));
        endpoints = proxies.map((p) => `127.0.0.1:${p.port}`);
      }
      const clientOptions = {
        id,
        url: cluster.url(options.ttlMs, endpoints),
        recipe: scenario.recipe,
        name: lockName,
        permits: meta.permits,
        writeRatio: scenario.writeRatio ?? 0,
        timeoutMs: options.timeoutMs,
        workMs: options.workMs,
        holdMs: id === 0 && scenario.victimHoldMs ? scenario.victimHoldMs(options.ttlMs) : options.holdMs,
        resourcePort: resource.port,
        counterKey: meta.guarded ? counterName : undefined,
        logFile: join(dir, `client-${id}.jsonl`),
      };
      const out = openSync(join(dir, `client-${id}.out`), 'a');
      const child = fork(CLIENT_SCRIPT, [JSON.stringify(clientOptions)], { stdio: ['ignore', out, out, 'ipc'], execArgv: [] });
      closeSync(out);
      child.on('message', (event: ClientEvent) => bus.emit('event', event));
      let paused = false;
      const exit = new Promise<ClientExit>((resolve) =>
        child.once('exit', (code, signal) => resolve({ c: id, code, signal, killed: killedByRunner.has(id), t: hrnow() })),
      );
      clients.push({
        id,
        child,
        exit,
        proxies,
        get paused() {
          return paused;
        },
        pause() {
          paused = true;
          child.kill('SIGSTOP');
        },
        resume() {
          paused = false;
          child.kill('SIGCONT');
        },
        partition(silent) {
          if (proxies.length === 0) return false;
          for (const proxy of proxies) {
            if (silent) proxy.silence();
            else {
              proxy.restore();
              // The bytes held back are gone: reset the connections, as a long partition would.
              proxy.cut();
            }
          }
          return true;
        },
      });
    }

    const nextEvent: NemesisContext['nextEvent'] = (match, timeoutMs) =>
      new Promise((resolve) => {
        const onEvent = (event: ClientEvent) => {
          if (!match(event) || clients[event.c]?.paused) return;
          finish(event);
        };
        const finish = (event: ClientEvent | undefined) => {
          clearTimeout(timer);
          bus.off('event', onEvent);
          resolve(event);
        };
        const timer = setTimeout(() => finish(undefined), timeoutMs);
        bus.on('event', onEvent);
      });

    // Faults start once every client has connected and the system is seen working.
    const connected = new Set<number>();
    const ready = await nextEvent((e) => {
      if (e.ev === 'connected') connected.add(e.c);
      return e.ev === 'acquired' && connected.size === clients.length;
    }, 30_000);
    if (!ready) {
      // Nothing granted: keep what the backend holds under the name now, while the clients'
      // sessions still live (a node left by a live session blocks every later contender).
      const stuck = await cluster.listKeys(cluster.keyOf(lockName)).catch((error: unknown) => ({ error: String(error) }));
      writeFileSync(join(dir, 'stuck.json'), `${JSON.stringify(stuck, null, 2)}\n`);
      throw new Error(`clients not connected and acquiring within 30 s of starting (${connected.size} of ${clients.length} connected); keys under the name in ${join(dir, 'stuck.json')}`);
    }
    log('faults-start');
    await scenario.nemesis({
      cluster,
      clients,
      ttlMs: options.ttlMs,
      timeoutMs: options.timeoutMs,
      faultsUntil: Date.now() + options.faultMs,
      log,
      nextEvent,
    });
    log('faults-end');
    // The tail is for everyone: a client that held long for a nemesis's sake holds briefly now.
    for (const client of clients) if (client.child.connected) client.child.send({ holdMs: options.holdMs });
    await sleep(options.tailMs);
  } finally {
    log('stop-clients');
    for (const client of clients) {
      client.resume();
      client.partition(false);
      if (client.child.connected) client.child.send('stop');
    }
    const grace = setTimeout(() => {
      for (const client of clients) {
        if (client.child.exitCode === null && client.child.signalCode === null) {
          killedByRunner.add(client.id);
          client.child.kill('SIGKILL');
        }
      }
    }, options.timeoutMs + options.holdMs + 8000);
    clientExits = await Promise.all(clients.map((c) => c.exit));
    clearTimeout(grace);
    await Promise.all(clients.flatMap((c) => c.proxies.map((p) => p.close())));
    await resource.close();
  }

  // Keys left behind: wait for sessions of clients that did not close to expire, within bounds.
  const contenderKeys = async () => (await cluster.listKeys(cluster.keyOf(lockName))).filter((k) => k.owned);
  let leftover: StoredKey[] = await contenderKeys();
  const expiryDeadline = Date.now() + options.ttlMs + 3000;
  while (leftover.length > 0 && Date.now() < expiryDeadline) {
    await sleep(250);
    leftover = await contenderKeys();
  }
  const final: Final = {
    counter: resource.counter,
    acceptedWrites: resource.acceptedWrites,
    leftover,
    counterKeys: meta.guarded ? await cluster.listKeys(cluster.keyOf(counterName)) : [],
    clientExits,
    t: hrnow(),
  };
  writeFileSync(join(dir, 'final.json'), `${JSON.stringify(final, null, 2)}\n`);
  closeSync(nemesisFd);
  closeSync(resourceFd);
  const report = checkHistory(loadHistory(dir));
  writeFileSync(join(dir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
  if (report.ok && !options.keepPassing) rmSync(dir, { recursive: true, force: true });
  return { report, dir };
}
