/**
 * The Redis backend (`redis://`, `rediss://`): sessions as keys with a PX TTL, contenders in a
 * sorted set per queue scored by one INCR counter, Lua scripts for every write, pub/sub plus
 * expiry timers for waits. Safe with fencing on a single primary; not across failover. See
 * docs/redis.md.
 * @module
 */
import type { BackendModule } from '../contract.js';
import { RedisBackend } from './backend.js';
import { optionsFromObject, optionsFromUrl, type RedisOptions } from './config.js';

export { RedisBackend } from './backend.js';
export type { RedisOptions } from './config.js';

/** The `redis://` / `rediss://` backend module. */
export const redisBackend: BackendModule<RedisOptions> = {
  kind: 'redis',
  fromUrl: optionsFromUrl,
  fromObject: optionsFromObject,
  connect: (options: RedisOptions, signal?: AbortSignal) => RedisBackend.connect(options, signal),
};
