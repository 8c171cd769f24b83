/**
 * Configuration: a URL, an object or nothing (then `BATON_BACKEND`, then `memory://`), resolved
 * through a registry of backend modules. Adding a backend is one line in {@link REGISTRY}.
 * @module
 */
import type { Backend, BackendKind, BackendModule } from './backends/contract.js';
import { parseBackendUrl } from './backends/config-fields.js';
import type { EtcdConfig } from './backends/etcd/config.js';
import type { MemoryConfig } from './backends/memory/index.js';
import type { PostgresConfig } from './backends/postgres/config.js';
import type { RedisConfig } from './backends/redis/config.js';
import type { ZooKeeperConfig } from './backends/zookeeper/config.js';
import { ConfigError } from './errors.js';
import { describe } from './validate.js';

// Each backend declares its own object form beside the code that validates it.
export type { EtcdConfig, MemoryConfig, PostgresConfig, RedisConfig, ZooKeeperConfig };

/** What {@link connect} accepts: a URL, an object form, or nothing for the environment/default. */
export type Config = string | MemoryConfig | EtcdConfig | ZooKeeperConfig | PostgresConfig | RedisConfig;

/** The environment variable read when `connect()` gets no configuration. */
export const ENV_VARIABLE = 'BATON_BACKEND';
/** The backend used when neither a configuration nor `BATON_BACKEND` is given. */
export const DEFAULT_URL = 'memory://';

interface RegistryEntry {
  kind: BackendKind;
  schemes: readonly string[];
  load(): Promise<BackendModule<unknown>>;
}

/** Backend modules by kind, loaded on first use so memory users never load a network client. */
export const REGISTRY: readonly RegistryEntry[] = [
  { kind: 'memory', schemes: ['memory'], load: async () => (await import('./backends/memory/index.js')).memoryBackend },
  { kind: 'etcd', schemes: ['etcd', 'etcd+https'], load: async () => (await import('./backends/etcd/index.js')).etcdBackend as BackendModule<unknown> },
  { kind: 'zookeeper', schemes: ['zookeeper', 'zk'], load: async () => (await import('./backends/zookeeper/index.js')).zookeeperBackend as BackendModule<unknown> },
  { kind: 'postgres', schemes: ['postgres', 'postgresql'], load: async () => (await import('./backends/postgres/index.js')).postgresBackend as BackendModule<unknown> },
  { kind: 'redis', schemes: ['redis', 'rediss'], load: async () => (await import('./backends/redis/index.js')).redisBackend as BackendModule<unknown> },
];

function acceptedUrls(): string {
  return REGISTRY.flatMap((entry) => entry.schemes.map((scheme) => `${scheme}://`)).join(', ');
}

/**
 * Resolves a configuration to a connected backend. `signal` bounds the connection: when it
 * aborts, the call rejects with its reason and leaves nothing open.
 */
export async function openBackend(config: Config | undefined, signal: AbortSignal, env: NodeJS.ProcessEnv = process.env): Promise<Backend> {
  const { module, options } = await resolveConfig(config, env);
  return module.connect(options, signal);
}

/** Resolves a configuration to its backend module and validated options, without connecting. */
export async function resolveConfig(
  config?: Config,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ module: BackendModule<unknown>; options: unknown }> {
  if (config === undefined) {
    const fromEnv = env[ENV_VARIABLE];
    if (fromEnv === undefined) return resolveUrl(DEFAULT_URL, 'default');
    // Set but empty is most often a deployment whose value went missing: falling back to the
    // in-process backend would silently coordinate nothing across processes.
    if (fromEnv.trim() === '') {
      throw new ConfigError(
        `${ENV_VARIABLE} is set but empty: set it to a backend URL (${acceptedUrls()}), or unset it for the default ${DEFAULT_URL}`,
      );
    }
    return resolveUrl(fromEnv.trim(), ENV_VARIABLE);
  }
  if (typeof config === 'string') return resolveUrl(config, 'config');
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new ConfigError(
      `invalid config ${describe(config)}: pass a URL string (${acceptedUrls()}), an object with a "backend" field, or nothing`,
    );
  }
  const kind = (config as { backend?: unknown }).backend;
  const entry = REGISTRY.find((candidate) => candidate.kind === kind);
  if (!entry) {
    throw new ConfigError(
      `invalid config.backend ${describe(kind)}: accepted backends are ${REGISTRY.map((e) => `"${e.kind}"`).join(', ')}`,
    );
  }
  const module = await entry.load();
  return { module, options: module.fromObject(config as unknown as Record<string, unknown>) };
}

/** The backend a URL scheme (without `:`) selects, or undefined for an unknown scheme. */
export function backendOfScheme(scheme: string): BackendKind | undefined {
  return REGISTRY.find((entry) => entry.schemes.includes(scheme.toLowerCase()))?.kind;
}

async function resolveUrl(text: string, source: string) {
  const url = parseBackendUrl(text, source);
  const entry = REGISTRY.find((candidate) => candidate.schemes.includes(url.scheme));
  if (!entry) {
    throw new ConfigError(`unknown backend scheme "${url.scheme}://" in ${source} ${describe(text)}: accepted schemes are ${acceptedUrls()}`);
  }
  const module = await entry.load();
  return { module, options: module.fromUrl(url) };
}
