/**
 * Plain keys on Redis: the `{P}d:<name>` hash a guarded write uses (`v` value, `r` revision), so
 * reads and watches go through the backend's own `get` and `watchKey`. Compare-and-set is a script
 * that checks `r` against the revision read, takes a new revision from the one counter and
 * publishes the change on the parent's channel, all in one atomic step. Writes run once: an
 * attempt of unknown outcome is reported, never sent again.
 * @module
 */
import type { KeyState, PlainKeys, StoredValue, Watched } from '../contract.js';
import { readValue, watchValue } from '../values-from-keys.js';
import { OutcomeUnknownError } from '../../errors.js';
import { AttemptError } from './connection.js';
import { type KeySpace, splitKey } from './keys.js';
import { type Script, script } from './scripts.js';

/**
 * KEYS: data, counter, epoch. ARGV: tag, epoch, expected revision ('' for absent), value,
 * channel, name within the channel. Returns the new revision, or false when the compare failed.
 */
const WRITE_VALUE = script(
  'write-value',
  `
local bad = checkEpoch(KEYS[3]) if bad then return bad end
local current = redis.call('HGET', KEYS[1], 'r')
if ARGV[3] == '' then
  if current then return false end
elseif current ~= ARGV[3] then
  return false
end
local rev = fmt(redis.call('INCR', KEYS[2]))
redis.call('HSET', KEYS[1], 'v', ARGV[4], 'r', rev)
redis.call('PUBLISH', ARGV[5], 'u ' .. ARGV[6] .. ' ' .. rev)
return rev
`,
);

/** KEYS: data, epoch. ARGV: tag, epoch, expected revision ('' for any), channel, name. Returns 1 or 0. */
const DELETE_VALUE = script(
  'delete-value',
  `
local bad = checkEpoch(KEYS[2]) if bad then return bad end
local current = redis.call('HGET', KEYS[1], 'r')
if not current or (ARGV[3] ~= '' and current ~= ARGV[3]) then return 0 end
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[4], 'd ' .. ARGV[5] .. ' ' .. current)
return 1
`,
);

/** What plain keys need from the backend. */
export interface ValuesHost {
  readonly keys: KeySpace;
  run(script: Script, keys: readonly string[], args: readonly string[], signal: AbortSignal, idempotent: boolean): Promise<unknown>;
  get(key: string, signal?: AbortSignal): Promise<KeyState | undefined>;
  watchKey(key: string, signal: AbortSignal): Promise<Watched<KeyState | undefined>>;
}

/** How long a write waits when its caller gave no signal: long enough for a reconnect. */
const DEFAULT_WAIT_MS = 10_000;

export class RedisValues implements PlainKeys {
  /** No other client's barrier to share: a barrier keeps a key of its own. */
  readonly barrierIsTheName = false;

  constructor(private readonly host: ValuesHost) {}

  read(name: string, signal?: AbortSignal): Promise<StoredValue | undefined> {
    return readValue(this.host, name, signal);
  }

  watch(name: string, signal: AbortSignal): Promise<Watched<StoredValue | undefined>> {
    return watchValue(this.host, name, signal);
  }

  async write(name: string, expected: StoredValue | undefined, value: string, signal?: AbortSignal): Promise<StoredValue | undefined> {
    const { keys } = this.host;
    const { prefix, name: last } = splitKey(name);
    const args = [expected?.revision.toString() ?? '', value, keys.channel(prefix), last];
    const revision = await this.#once(`writing ${name}`, WRITE_VALUE, [keys.data(name), keys.counter, keys.epoch], args, signal);
    return revision === null || revision === false ? undefined : { value, revision: BigInt(revision as string) };
  }

  async delete(name: string, expected?: StoredValue, signal?: AbortSignal): Promise<boolean> {
    const { keys } = this.host;
    const { prefix, name: last } = splitKey(name);
    const args = [expected?.revision.toString() ?? '', keys.channel(prefix), last];
    return Number(await this.#once(`deleting ${name}`, DELETE_VALUE, [keys.data(name), keys.epoch], args, signal)) === 1;
  }

  async #once(what: string, run: Script, keys: readonly string[], args: readonly string[], signal: AbortSignal | undefined): Promise<unknown> {
    try {
      return await this.host.run(run, keys, args, signal ?? AbortSignal.timeout(DEFAULT_WAIT_MS), false);
    } catch (error) {
      if (error instanceof AttemptError && error.kind === 'unknown') {
        throw new OutcomeUnknownError(`Redis ${what}: the answer was lost, so whether it was applied is unknown`, { cause: error });
      }
      throw error;
    }
  }
}
