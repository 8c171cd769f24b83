/**
 * `NODE_DEBUG=baton` logging of protocol steps, through Node's own `util.debuglog`: no
 * dependency, and one boolean test per call site when the variable does not name `baton`.
 * Lines go to stderr as `BATON <pid>: <message>`.
 * @module
 */
import { debuglog } from 'node:util';

const log = debuglog('baton');

/** Whether `NODE_DEBUG` names `baton`. Test it before building an expensive message. */
export const debugEnabled: boolean = log.enabled;

/** Logs one protocol step when `NODE_DEBUG=baton`; does nothing otherwise. */
export function debug(format: string, ...args: unknown[]): void {
  if (debugEnabled) log(format, ...args);
}
