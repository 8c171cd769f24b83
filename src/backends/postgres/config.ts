/**
 * PostgreSQL configuration: `postgres://` and `postgresql://` URLs and the object form, validated
 * into {@link PostgresOptions}. Every rejection names the field and what is accepted.
 * @module
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../../errors.js';
import { describe } from '../../validate.js';
import { type BackendUrl, hostPorts, positiveNumber, readOnlyField, readOnlyParam, rejectUnknownFields, rejectUnknownParams } from '../config-fields.js';

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
  /**
   * Read only (default false): no schema is created or upgraded, no session opened, no row
   * written (the connections run with `default_transaction_read_only`). Reads of a schema that
   * does not exist find nothing. What `baton status`, `leader` and `observe` use.
   */
  readOnly?: boolean;
}

/** How TLS is used, with libpq's names. `prefer` and `allow` (silent fallback to plain text) are not offered. */
export type SslMode = 'disable' | 'require' | 'verify-ca' | 'verify-full';
const SSL_MODES: readonly SslMode[] = ['disable', 'require', 'verify-ca', 'verify-full'];

/** Validated PostgreSQL options. */
export interface PostgresOptions {
  host: string;
  port: number;
  database: string;
  user: string;
  password: string | undefined;
  /** Session TTL in seconds. */
  ttl: number;
  /** The schema holding Baton's tables and functions. */
  schema: string;
  ssl: { mode: SslMode; ca?: Buffer; cert?: Buffer; key?: Buffer };
  /** How long one connection attempt may take, in milliseconds. */
  connectTimeoutMs: number;
  /** Reads only: no schema created, no session, no row written. */
  readOnly: boolean;
}

export const DEFAULT_TTL_SECONDS = 10;
export const DEFAULT_SCHEMA = 'baton';
const DEFAULT_PORT = 5432;
const CONNECT_TIMEOUT_MS = 5000;

const URL_FORM =
  'postgres://[user[:password]@]host[:port]/database[?ttl=SECONDS&schema=NAME&sslmode=disable|require|verify-ca|verify-full&sslrootcert=FILE&sslcert=FILE&sslkey=FILE&readonly=true]';
const URL_PARAMS = ['ttl', 'schema', 'sslmode', 'sslrootcert', 'sslcert', 'sslkey', 'connect_timeout', 'readonly'];
const OBJECT_FIELDS = ['backend', 'host', 'port', 'database', 'user', 'password', 'ttl', 'schema', 'ssl', 'connectTimeout', 'readOnly'];

/** Parses `postgres://` / `postgresql://` URLs. */
export function optionsFromUrl(url: BackendUrl): PostgresOptions {
  if (url.hosts === '') throw new ConfigError(`invalid PostgreSQL URL ${describe(redact(url.raw))}: no host; expected ${URL_FORM}`);
  if (url.hosts.includes(',')) {
    throw new ConfigError(`invalid PostgreSQL URL ${describe(redact(url.raw))}: several hosts are not supported; give the primary's host:port (expected ${URL_FORM})`);
  }
  rejectUnknownParams(url, URL_PARAMS);
  const [endpoint] = hostPorts(/:\d+$/.test(url.hosts) ? url.hosts : `${url.hosts}:${DEFAULT_PORT}`, 'host');
  const param = (name: string) => url.params.get(name) ?? undefined;
  const database = decodeURIComponent(url.path.replace(/^\//, ''));
  if (database === '' || database.includes('/')) {
    throw new ConfigError(`invalid PostgreSQL URL ${describe(redact(url.raw))}: expected one database name as the path (expected ${URL_FORM})`);
  }
  const connectTimeout = param('connect_timeout');
  return {
    ...splitHostPort(endpoint!),
    database,
    user: url.credentials?.username ?? defaultUser(),
    password: url.credentials?.password || undefined,
    ttl: ttlOf(param('ttl')),
    schema: schemaOf(param('schema')),
    ssl: sslOf({ mode: param('sslmode'), ca: param('sslrootcert'), cert: param('sslcert'), key: param('sslkey') }, 'URL parameter'),
    connectTimeoutMs: connectTimeout === undefined ? CONNECT_TIMEOUT_MS : positiveNumber(connectTimeout, 'connect_timeout', 1, 600, 5) * 1000,
    readOnly: readOnlyParam(param('readonly')),
  };
}

/** Validates `{ backend: 'postgres', host, port?, database, user?, password?, ttl?, schema?, ssl?, connectTimeout? }`. */
export function optionsFromObject(config: Record<string, unknown>): PostgresOptions {
  rejectUnknownFields(config, OBJECT_FIELDS, 'postgres config');
  const host = config.host;
  if (typeof host !== 'string' || !/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+)$/.test(host)) {
    throw new ConfigError(`invalid host ${describe(host)}: host must be a host name or IP address (e.g. "127.0.0.1")`);
  }
  const port = config.port === undefined ? DEFAULT_PORT : config.port;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new ConfigError(`invalid port ${describe(port)}: port must be an integer from 1 to 65535`);
  }
  const database = config.database;
  if (typeof database !== 'string' || database === '') throw new ConfigError(`invalid database ${describe(database)}: database must be a non-empty string`);
  const user = config.user ?? defaultUser();
  if (typeof user !== 'string' || user === '') throw new ConfigError(`invalid user ${describe(user)}: user must be a non-empty string`);
  const password = config.password;
  if (password !== undefined && typeof password !== 'string') throw new ConfigError('invalid password: password must be a string');
  const ssl = config.ssl;
  if (ssl !== undefined && (typeof ssl !== 'object' || ssl === null || Array.isArray(ssl))) {
    throw new ConfigError(`invalid ssl ${describe(ssl)}: ssl must be an object { mode?, ca?, cert?, key? } (mode: ${SSL_MODES.join(', ')}; ca/cert/key: PEM text or file paths)`);
  }
  if (ssl !== undefined) rejectUnknownFields(ssl as Record<string, unknown>, ['mode', 'ca', 'cert', 'key'], 'postgres ssl config');
  return {
    host: host.replace(/^\[|\]$/g, ''),
    port,
    database,
    user,
    password: password || undefined,
    ttl: ttlOf(config.ttl),
    schema: schemaOf(config.schema),
    ssl: sslOf((ssl ?? {}) as Record<string, unknown>, 'ssl field'),
    connectTimeoutMs: positiveNumber(config.connectTimeout, 'connectTimeout', 1, 600, 5) * 1000,
    readOnly: readOnlyField(config.readOnly),
  };
}


function splitHostPort(endpoint: string): { host: string; port: number } {
  const colon = endpoint.lastIndexOf(':');
  return { host: endpoint.slice(0, colon).replace(/^\[|\]$/g, ''), port: Number(endpoint.slice(colon + 1)) };
}

/** libpq's default: the operating-system user name. */
function defaultUser(): string {
  return process.env.PGUSER ?? process.env.USER ?? 'postgres';
}

function ttlOf(value: unknown): number {
  return positiveNumber(value, 'ttl', 1, 86_400, DEFAULT_TTL_SECONDS);
}

/** A plain lowercase SQL identifier, short enough that `<schema>.keys` is a valid channel name. */
function schemaOf(value: unknown): string {
  if (value === undefined) return DEFAULT_SCHEMA;
  if (typeof value !== 'string' || !/^[a-z_][a-z0-9_]{0,49}$/.test(value)) {
    throw new ConfigError(
      `invalid schema ${describe(value)}: schema must be 1-50 characters of lowercase letters, digits and "_", not starting with a digit (e.g. "baton")`,
    );
  }
  return value;
}

function sslOf(fields: Record<string, unknown>, where: string): PostgresOptions['ssl'] {
  const mode = fields.mode ?? (fields.ca !== undefined || fields.cert !== undefined ? 'verify-full' : 'disable');
  if (typeof mode !== 'string' || !SSL_MODES.includes(mode as SslMode)) {
    throw new ConfigError(
      `invalid sslmode ${describe(mode)}: accepted modes are ${SSL_MODES.join(', ')} ("prefer" and "allow", which fall back to plain text silently, are not offered)`,
    );
  }
  const ssl: PostgresOptions['ssl'] = { mode: mode as SslMode };
  for (const [name, label] of [['ca', 'sslrootcert'], ['cert', 'sslcert'], ['key', 'sslkey']] as const) {
    const value = fields[name];
    if (value === undefined) continue;
    if (mode === 'disable') throw new ConfigError(`invalid ${label} in ${where}: certificates need sslmode require, verify-ca or verify-full, not disable`);
    ssl[name] = pem(value, where === 'ssl field' ? name : label, where);
  }
  if ((ssl.cert === undefined) !== (ssl.key === undefined)) {
    throw new ConfigError('invalid ssl: a client certificate needs its key and a key needs its certificate; give both, or neither');
  }
  return ssl;
}

function pem(value: unknown, name: string, where: string): Buffer {
  if (Buffer.isBuffer(value)) return value;
  if (typeof value !== 'string' || value.trim() === '') throw new ConfigError(`invalid ${name} in ${where} ${describe(value)}: expected PEM text or the path of a PEM file`);
  if (value.trimStart().startsWith('-----BEGIN')) return Buffer.from(value);
  try {
    return readFileSync(value);
  } catch (error) {
    throw new ConfigError(`invalid ${name} in ${where}: cannot read ${describe(value)} (${(error as Error).message}); expected PEM text or the path of a PEM file`, { cause: error });
  }
}

/** The URL with its password replaced, for messages. */
export function redact(raw: string): string {
  return raw.replace(/\/\/([^:/@]*):[^@/]*@/, '//$1:***@');
}

/** Where the options point, for messages: `user@host:port/database`. */
export function describeTarget(options: PostgresOptions): string {
  return `${options.user}@${options.host}:${options.port}/${options.database}`;
}

/** node-postgres connection settings for these options. */
export function clientConfig(options: PostgresOptions, applicationName: string) {
  const { ssl } = options;
  const tls =
    ssl.mode === 'disable'
      ? false
      : {
          rejectUnauthorized: ssl.mode !== 'require',
          ...(ssl.mode === 'verify-ca' ? { checkServerIdentity: () => undefined } : {}),
          ...(ssl.ca ? { ca: ssl.ca } : {}),
          ...(ssl.cert ? { cert: ssl.cert, key: ssl.key } : {}),
        };
  return {
    host: options.host,
    port: options.port,
    database: options.database,
    user: options.user,
    password: options.password,
    ssl: tls,
    connectionTimeoutMillis: options.connectTimeoutMs,
    application_name: applicationName,
    keepAlive: true,
    // The server refuses every write of a read-only coordinator, whatever a bug might send.
    ...(options.readOnly ? { options: '-c default_transaction_read_only=on' } : {}),
  };
}
