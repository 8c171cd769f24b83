/**
 * Redis configuration: `redis://` and `rediss://` (TLS) URLs and the object form, validated into
 * {@link RedisOptions}. Every rejection names the field and what is accepted.
 * @module
 */
import { ConfigError } from '../../errors.js';
import { describe } from '../../validate.js';
import { type BackendUrl, credentials, hostPorts, positiveNumber, readOnlyField, readOnlyParam, rejectUnknownFields, rejectUnknownParams, readTlsFiles } from '../config-fields.js';

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
  /**
   * Read only (default false): no epoch key written, no session opened, no entry swept; calls
   * that join a queue reject with a ConfigError. What `baton status`, `leader` and `observe` use.
   */
  readOnly?: boolean;
}

/** Validated Redis options. */
export interface RedisOptions {
  host: string;
  port: number;
  /** Logical database number (SELECT). */
  db: number;
  /** Session TTL in seconds. */
  ttl: number;
  /** Put before every key; also the hash tag that keeps all of Baton's keys in one slot. */
  prefix: string;
  /** ACL user (Redis 6+) or only a password (`requirepass`, user "default"). */
  auth: { username: string; password: string } | undefined;
  /** TLS (`rediss://`): PEM contents of the CA, client certificate and key, files already read. */
  tls: { ca?: Buffer; cert?: Buffer; key?: Buffer } | undefined;
  /** How long `connect` waits for the server to answer, in milliseconds. */
  connectTimeoutMs: number;
  /** Reads only: no epoch key written, no session, expired entries left out instead of deleted. */
  readOnly: boolean;
}

/** The session TTL every Baton backend uses unless told otherwise. */
export const DEFAULT_TTL_SECONDS = 10;
export const DEFAULT_PREFIX = 'baton:';
const CONNECT_TIMEOUT_MS = 5000;

const URL_FORMS =
  'redis://[user:pass@]host:port[/db][?ttl=SECONDS&prefix=PREFIX&readonly=true] or ' +
  'rediss://[user:pass@]host:port[/db][?ttl=SECONDS&prefix=PREFIX&readonly=true&ca=FILE&cert=FILE&key=FILE]';
const OBJECT_FIELDS = ['backend', 'host', 'port', 'db', 'ttl', 'prefix', 'auth', 'password', 'tls', 'readOnly'] as const;

/** Parses `redis://` / `rediss://` URLs. */
export function optionsFromUrl(url: BackendUrl): RedisOptions {
  const tls = url.scheme === 'rediss';
  if (url.hosts === '') throw new ConfigError(`invalid Redis URL ${describe(url.raw)}: no host:port; expected ${URL_FORMS}`);
  if (url.hosts.includes(',')) {
    throw new ConfigError(`invalid Redis URL ${describe(url.raw)}: one host:port only (one primary; see docs/redis.md); expected ${URL_FORMS}`);
  }
  const [endpoint] = hostPorts(url.hosts.includes(':') ? url.hosts : `${url.hosts}:6379`, 'host:port');
  rejectUnknownParams(url, tls ? ['ttl', 'prefix', 'readonly', 'ca', 'cert', 'key'] : ['ttl', 'prefix', 'readonly']);
  const param = (name: string) => url.params.get(name) ?? undefined;
  const db = url.path === '' ? undefined : url.path.slice(1);
  return {
    ...splitHostPort(endpoint as string),
    db: dbOf(db, `database in ${describe(url.raw)}`),
    ttl: ttlOf(param('ttl')),
    prefix: prefixOf(param('prefix')),
    auth: url.credentials && { username: url.credentials.username, password: url.credentials.password },
    tls: tls ? readTls({ ca: param('ca'), cert: param('cert'), key: param('key') }, 'URL parameter') : undefined,
    connectTimeoutMs: CONNECT_TIMEOUT_MS,
    readOnly: readOnlyParam(param('readonly')),
  };
}

/** Validates `{ backend: 'redis', host?, port?, db?, ttl?, prefix?, auth?, password?, tls? }`. */
export function optionsFromObject(config: Record<string, unknown>): RedisOptions {
  rejectUnknownFields(config, OBJECT_FIELDS, 'redis config');
  const host = config.host ?? '127.0.0.1';
  if (typeof host !== 'string' || !/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+)$/.test(host)) {
    throw new ConfigError(`invalid host ${describe(config.host)}: host must be a host name or IP address (e.g. "127.0.0.1")`);
  }
  const port = config.port ?? 6379;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new ConfigError(`invalid port ${describe(config.port)}: port must be an integer from 1 to 65535`);
  }
  if (config.auth !== undefined && config.password !== undefined) {
    throw new ConfigError('invalid redis config: give either auth { username, password } or password, not both');
  }
  let auth = credentials(config.auth, 'auth');
  if (config.password !== undefined) {
    if (typeof config.password !== 'string' || config.password === '') {
      throw new ConfigError(`invalid password ${describe(config.password)}: password must be a non-empty string (the server's requirepass)`);
    }
    auth = { username: 'default', password: config.password };
  }
  const tlsField = config.tls;
  if (tlsField !== undefined && tlsField !== true && (typeof tlsField !== 'object' || tlsField === null || Array.isArray(tlsField))) {
    throw new ConfigError(`invalid tls ${describe(tlsField)}: tls must be true or an object { ca?, cert?, key? } of PEM text or file paths`);
  }
  if (typeof tlsField === 'object') rejectUnknownFields(tlsField as Record<string, unknown>, ['ca', 'cert', 'key'], 'redis tls config');
  return {
    host: host.replace(/^\[|\]$/g, ''),
    port,
    db: dbOf(config.db, 'db'),
    ttl: ttlOf(config.ttl),
    prefix: prefixOf(config.prefix),
    auth,
    tls: tlsField === undefined ? undefined : readTls(tlsField === true ? {} : (tlsField as Record<string, unknown>), 'tls field'),
    connectTimeoutMs: CONNECT_TIMEOUT_MS,
    readOnly: readOnlyField(config.readOnly),
  };
}


function splitHostPort(endpoint: string): { host: string; port: number } {
  const colon = endpoint.lastIndexOf(':');
  return { host: endpoint.slice(0, colon).replace(/^\[|\]$/g, ''), port: Number(endpoint.slice(colon + 1)) };
}

function dbOf(value: unknown, field: string): number {
  if (value === undefined) return 0;
  const number = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isInteger(number) || number < 0 || number > 10_000) {
    throw new ConfigError(`invalid ${field} ${describe(value)}: the database must be a number from 0 (e.g. redis://127.0.0.1:6379/2)`);
  }
  return number;
}

function ttlOf(value: unknown): number {
  return positiveNumber(value, 'ttl', 1, 86_400, DEFAULT_TTL_SECONDS);
}

/**
 * The key prefix. It becomes a hash tag (`{baton:}`), so braces would break the tag and are refused.
 */
function prefixOf(value: unknown): string {
  if (value === undefined) return DEFAULT_PREFIX;
  // eslint-disable-next-line no-control-regex
  if (typeof value !== 'string' || value === '' || value.length > 100 || /[{}\s\u0000-\u001f]/.test(value)) {
    throw new ConfigError(
      `invalid prefix ${describe(value)}: prefix must be 1-100 printable characters without spaces or braces, put before every key (e.g. "baton:" or "app1:")`,
    );
  }
  return value;
}

/** Each of ca/cert/key: PEM text or a path to a PEM file; a certificate and its key come together. */
function readTls(fields: Record<string, unknown>, where: string): NonNullable<RedisOptions['tls']> {
  const tls = readTlsFiles(fields, where);
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw new ConfigError('invalid tls: a client certificate needs its key and a key needs its certificate; give both cert and key, or neither');
  }
  return tls;
}
