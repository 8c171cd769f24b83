/**
 * Configuration: a URL, an object or nothing (then `BATON_BACKEND`, then `memory://`), resolved
 * through a registry of backend modules. Adding a backend is one line in {@link REGISTRY}.
 * @module
 */
import type { Backend, BackendKind, BackendModule } from './backends/contract.js';
import { parseBackendUrl } from './backends/config-fields.js';
import type { MemoryConfig } from './backends/memory/index.js';
import { ConfigError } from './errors.js';
import { describe } from './validate.js';

export type { MemoryConfig };

/** An etcd v3 cluster. */
export interface EtcdConfig {
  backend: 'etcd';
  /** `host:port` of each member, or full `http(s)://host:port` URLs. */
  endpoints: string[];
  /** Session (lease) TTL in seconds (default 10). */
  ttl?: number;
  /** A prefix put before every key, as etcd's namespace proxy does. */
  namespace?: string;
  /** User name and password, for a cluster with auth enabled. */
  auth?: { username: string; password: string };
  /** TLS: PEM contents or file paths of the CA, client certificate and key. Implies https. */
  tls?: { ca?: string; cert?: string; key?: string };
}

/** An Apache ZooKeeper ensemble. */
export interface ZooKeeperConfig {
  backend: 'zookeeper';
  /** `host:port` of each server. */
  endpoints: string[];
  /** A path prefixed to every node, created when missing. */
  chroot?: string;
  /** Requested session timeout in milliseconds (default 10000); the server may adjust it. */
  sessionTimeout?: number;
  /** Digest credentials; nodes are then created readable by all, writable only by this identity. */
  auth?: { username: string; password: string };
}

/** A PostgreSQL server (see docs/postgres.md). */
export interface PostgresConfig {
  backend: 'postgres';
  host: string;
  /** Default 5432. */
  port?: number;
  database: string;
  /** Default: PGUSER, else the operating-system user, as libpq does. */
  user?: string;
  password?: string;
  /** Session TTL in seconds (default 10). */
  ttl?: number;
  /** The schema holding Baton's tables, created on first use (default "baton"). */
  schema?: string;
  /** TLS, with libpq's sslmode names; ca/cert/key as PEM text or file paths. */
  ssl?: { mode?: 'disable' | 'require' | 'verify-ca' | 'verify-full'; ca?: string; cert?: string; key?: string };
  /** Seconds one connection attempt may take (default 5). */
  connectTimeout?: number;
}

/** A single Redis primary (see docs/redis.md for what Redis can and cannot promise). */
export interface RedisConfig {
  backend: 'redis';
  /** Host name or IP address (default 127.0.0.1). */
  host?: string;
  /** Port (default 6379). */
  port?: number;
  /** Logical database number (default 0). */
  db?: number;
  /** Session TTL in seconds (default 10). */
  ttl?: number;
  /** Put before every key, and the hash tag keeping them in one slot (default "baton:"). */
  prefix?: string;
  /** ACL user and password (Redis 6+). */
  auth?: { username: string; password: string };
  /** Only a password (`requirepass`). */
  password?: string;
  /** TLS: true, or PEM contents or file paths of the CA, client certificate and key. */
  tls?: true | { ca?: string; cert?: string; key?: string };
}

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
