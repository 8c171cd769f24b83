/**
 * The etcd v3 backend (`etcd://`, `etcd+https://`), sharing locks and elections with Go's
 * `client/v3/concurrency` and `etcdctl lock`/`elect`. See docs/etcd.md.
 * @module
 */
import type { BackendModule } from '../contract.js';
import { EtcdBackend } from './backend.js';
import { type EtcdOptions, optionsFromObject, optionsFromUrl } from './config.js';

export { EtcdBackend } from './backend.js';
export type { EtcdOptions } from './config.js';

/** The `etcd://` / `etcd+https://` backend module. */
export const etcdBackend: BackendModule<EtcdOptions> = {
  kind: 'etcd',
  fromUrl: optionsFromUrl,
  fromObject: optionsFromObject,
  connect: (options, signal) => EtcdBackend.connect(options, signal),
};
