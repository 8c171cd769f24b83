/**
 * Running the program under a hold: environment, signal forwarding, exit code, and stopping the
 * program (SIGTERM, then SIGKILL after the grace period) when the hold is lost.
 * @module
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { ExitCode, signalExitCode } from './exit-codes.js';

/** Signals passed on to the program. Before it starts, the first four stop the wait. */
export const FORWARDED: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];
const INTERRUPTING: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];

/** Why waiting stopped: a signal to baton before the program started. */
export class Interrupted extends Error {
  constructor(readonly signal: NodeJS.Signals) {
    super(`interrupted by ${signal}`);
    this.name = 'Interrupted';
  }
}

/** How a second interrupt escalates: after SIGTERM, SIGKILL follows once `graceMs` passed. */
export interface Escalation {
  readonly graceMs: number;
  readonly report: (line: string) => void;
}

/**
 * baton's signal handling for one run: while waiting, a terminating signal aborts `signal`
 * (reason {@link Interrupted}); once a program runs, every forwarded signal goes to it. A user
 * who interrupts again (a second Ctrl-C) means it: the program then gets SIGTERM, and SIGKILL
 * after the grace period or at a third interrupt, so a program that ignores signals still ends.
 */
export class SignalRelay implements Disposable {
  readonly #controller = new AbortController();
  readonly #handlers = new Map<NodeJS.Signals, () => void>();
  #child: ChildProcess | undefined;
  #escalation: Escalation | undefined;
  #interrupts = 0;
  #killTimer: NodeJS.Timeout | undefined;

  constructor() {
    for (const name of FORWARDED) {
      const handler = () => this.#receive(name);
      this.#handlers.set(name, handler);
      process.on(name, handler);
    }
  }

  /** Aborts when baton is interrupted before the program starts. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** From now on, signals go to `child`; repeated interrupts escalate as `escalation` says. */
  forwardTo(child: ChildProcess, escalation?: Escalation): void {
    this.#child = child;
    this.#escalation = escalation;
    child.once('exit', () => clearTimeout(this.#killTimer));
  }

  #receive(name: NodeJS.Signals): void {
    const child = this.#child;
    if (child && child.exitCode === null && child.signalCode === null) {
      if (INTERRUPTING.includes(name) && this.#escalation) this.#escalate(child, name, this.#escalation);
      else child.kill(name);
      return;
    }
    if (!child && INTERRUPTING.includes(name) && !this.#controller.signal.aborted) this.#controller.abort(new Interrupted(name));
  }

  #escalate(child: ChildProcess, name: NodeJS.Signals, { graceMs, report }: Escalation): void {
    this.#interrupts++;
    if (this.#interrupts === 1) {
      child.kill(name);
    } else if (this.#interrupts === 2) {
      report(`${name} again: sending SIGTERM to the command, SIGKILL in ${graceMs / 1000} s if it has not exited (interrupt once more to kill it now)`);
      child.kill('SIGTERM');
      this.#killTimer = setTimeout(() => this.#kill(child, report), graceMs);
    } else {
      clearTimeout(this.#killTimer);
      this.#kill(child, report);
    }
  }

  #kill(child: ChildProcess, report: (line: string) => void): void {
    if (child.exitCode !== null || child.signalCode !== null) return;
    report('the command did not exit: sending SIGKILL');
    child.kill('SIGKILL');
  }

  [Symbol.dispose](): void {
    clearTimeout(this.#killTimer);
    for (const [name, handler] of this.#handlers) process.off(name, handler);
  }
}

export interface SuperviseOptions {
  readonly program: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  /** Aborts when the hold ends; a reason that is not a release means the hold was lost. */
  readonly holdSignal: AbortSignal;
  /** Tells a loss from a release. */
  readonly isLoss: (reason: unknown) => boolean;
  readonly graceMs: number;
  readonly relay: SignalRelay;
  /** Reports the loss (one line on stderr). */
  readonly onLost: (reason: unknown) => void;
  readonly report: (line: string) => void;
}

export interface Outcome {
  /** The program's exit code (128+N for signal N), or 126/127 when it could not start. */
  readonly code: number;
  /** Set when the hold was lost while the program ran. */
  readonly lost: boolean;
}

/** Runs the program to its end. Stops it if the hold is lost meanwhile. */
export function supervise(options: SuperviseOptions): Promise<Outcome> {
  const [command, ...args] = options.program as [string, ...string[]];
  return new Promise((resolve) => {
    let lost = false;
    let killTimer: NodeJS.Timeout | undefined;
    let settled = false;
    const child = spawn(command, args, { stdio: 'inherit', env: options.env });
    const finish = (code: number) => {
      if (settled) return;
      settled = true;
      clearTimeout(killTimer);
      options.holdSignal.removeEventListener('abort', onHoldEnded);
      resolve({ code, lost });
    };
    const onHoldEnded = () => {
      const reason: unknown = options.holdSignal.reason;
      if (!options.isLoss(reason) || settled) return;
      lost = true;
      options.onLost(reason);
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      killTimer = setTimeout(() => {
        if (child.exitCode === null && child.signalCode === null) {
          options.report(`${command} did not exit within the grace period after SIGTERM: sending SIGKILL`);
          child.kill('SIGKILL');
        }
      }, options.graceMs);
    };
    child.once('error', (error: NodeJS.ErrnoException) => {
      // Spawning failed (no such program, not executable); no 'exit' follows.
      if (child.pid !== undefined) return;
      const notFound = error.code === 'ENOENT';
      options.report(`cannot run ${JSON.stringify(command)}: ${notFound ? 'command not found' : error.message}`);
      finish(notFound ? ExitCode.NOT_FOUND : ExitCode.NOT_EXECUTABLE);
    });
    child.once('exit', (code, signal) => finish(signal ? signalExitCode(signal) : (code ?? 0)));
    if (child.pid !== undefined) options.relay.forwardTo(child, { graceMs: options.graceMs, report: options.report });
    if (options.holdSignal.aborted) onHoldEnded();
    else options.holdSignal.addEventListener('abort', onHoldEnded, { once: true });
  });
}
