/**
 * Plain-key reads and watches for adapters that keep plain keys beside their contender keys and
 * already read and watch any key (PostgreSQL, Redis): the key's state, as a value and revision.
 * @module
 */
import type { KeyState, StoredValue, Watched } from './contract.js';

export interface KeyReader {
  get(key: string, signal?: AbortSignal): Promise<KeyState | undefined>;
  watchKey(key: string, signal: AbortSignal): Promise<Watched<KeyState | undefined>>;
}

export async function readValue(host: KeyReader, name: string, signal?: AbortSignal): Promise<StoredValue | undefined> {
  return storedOf(await host.get(name, signal));
}

export async function watchValue(host: KeyReader, name: string, signal: AbortSignal): Promise<Watched<StoredValue | undefined>> {
  const watched = await host.watchKey(name, signal);
  return { current: storedOf(watched.current), changed: watched.changed };
}

function storedOf(state: KeyState | undefined): StoredValue | undefined {
  return state && { value: state.value, revision: state.revision };
}
