/**
 * etcd configuration: `etcd://` and `etcd+https://` URLs and the object form, validated into
 * {@link EtcdOptions}. Every rejection names the field and what is accepted.
 * @module
 */
import { ConfigError } from '../../errors.js';
import { describe } from '../../validate.js';
import { type BackendUrl, booleanField, booleanParam, credentials, hostPorts, positiveNumber, rejectUnknownFields, rejectUnknownParams, readTlsFiles } from '../config-fields.js';

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
  /**
   * Whether this coordinator may share its connection (HTTP/2 sessions, watch stream and watched
   * views) with the other coordinators of the process that connect with the same endpoints, TLS
   * material and credentials (default true). false: a connection of its own. See docs/etcd.md.
   */
  shareConnection?: boolean;
}

/** Validated etcd options. */
export interface EtcdOptions {
  /** `host:port` of each member, without a scheme. */
  endpoints: string[];
  /** Whether to speak TLS to every member. */
  https: boolean;
  /** Session (lease) TTL in seconds. */
  ttl: number;
  /** Put before every key, as etcd's namespace proxy does; '' for none. */
  namespace: string;
  auth: { username: string; password: string } | undefined;
  /** PEM contents (files already read). */
  tls: { ca?: Buffer; cert?: Buffer; key?: Buffer } | undefined;
  /** How long `connect` waits for the cluster to answer, in milliseconds. */
  connectTimeoutMs: number;
  /** Whether the connection may be shared with the process's other coordinators of the same connection identity. */
  shareConnection: boolean;
}

/** Default session TTL in seconds (Go's `concurrency.NewSession` uses 60; Baton's backends share 10). */
export const DEFAULT_TTL_SECONDS = 10;
const CONNECT_TIMEOUT_MS = 5000;

const URL_FORMS =
  'etcd://[user:pass@]host:port[,host:port...][?ttl=SECONDS&namespace=PREFIX&shareconnection=false] or ' +
  'etcd+https://[user:pass@]host:port[,host:port...][?ttl=SECONDS&namespace=PREFIX&ca=FILE&cert=FILE&key=FILE&shareconnection=false]';
const OBJECT_FIELDS = ['backend', 'endpoints', 'ttl', 'namespace', 'auth', 'tls', 'shareConnection'] as const;

/** Parses `etcd://` / `etcd+https://` URLs. */
export function optionsFromUrl(url: BackendUrl): EtcdOptions {
  const https = url.scheme === 'etcd+https';
  if (url.hosts === '') throw new ConfigError(`invalid etcd URL ${describe(url.raw)}: no endpoints; expected ${URL_FORMS}`);
  if (url.path !== '') {
    throw new ConfigError(
      `invalid etcd URL ${describe(url.raw)}: unexpected path ${describe(url.path)}; use ?namespace=PREFIX for a key prefix (expected ${URL_FORMS})`,
    );
  }
  rejectUnknownParams(url, https ? ['ttl', 'namespace', 'ca', 'cert', 'key', 'shareconnection'] : ['ttl', 'namespace', 'shareconnection']);
  const param = (name: string) => url.params.get(name) ?? undefined;
  const tlsFiles = { ca: param('ca'), cert: param('cert'), key: param('key') };
  return finish({
    endpoints: hostPorts(url.hosts, 'endpoints'),
    https,
    ttl: ttlOf(param('ttl')),
    namespace: namespaceOf(param('namespace')),
    auth: url.credentials,
    tls: https ? readTls(tlsFiles, 'URL parameter') : undefined,
    connectTimeoutMs: CONNECT_TIMEOUT_MS,
    shareConnection: booleanParam(param('shareconnection'), 'shareconnection', true),
  });
}

/** Validates `{ backend: 'etcd', endpoints, ttl?, namespace?, auth?, tls?, shareConnection? }`. */
export function optionsFromObject(config: Record<string, unknown>): EtcdOptions {
  rejectUnknownFields(config, OBJECT_FIELDS, 'etcd config');
  const raw = config.endpoints;
  const list = typeof raw === 'string' ? raw.split(',') : raw;
  if (!Array.isArray(list) || list.length === 0) {
    throw new ConfigError(
      `invalid endpoints ${describe(raw)}: endpoints must be a non-empty list of "host:port" or "http(s)://host:port" (e.g. ["127.0.0.1:2379"])`,
    );
  }
  const schemes = new Set<string>();
  const bare = list.map((item: unknown) => {
    if (typeof item !== 'string') return item;
    const match = /^(https?):\/\/(.*?)\/?$/i.exec(item.trim());
    if (!match) return item;
    schemes.add((match[1] as string).toLowerCase());
    return match[2];
  });
  if (schemes.size > 1) throw new ConfigError('invalid endpoints: mixing http:// and https:// endpoints is not supported; use one scheme for every member');
  const tlsField = config.tls;
  if (tlsField !== undefined && (typeof tlsField !== 'object' || tlsField === null || Array.isArray(tlsField))) {
    throw new ConfigError(`invalid tls ${describe(tlsField)}: tls must be an object { ca?, cert?, key? } of PEM text or file paths`);
  }
  const https = schemes.has('https') || tlsField !== undefined;
  if (schemes.has('http') && tlsField !== undefined) {
    throw new ConfigError('invalid endpoints: http:// endpoints cannot be combined with tls; use https:// or bare host:port');
  }
  if (tlsField !== undefined) rejectUnknownFields(tlsField as Record<string, unknown>, ['ca', 'cert', 'key'], 'etcd tls config');
  return finish({
    endpoints: hostPorts(bare, 'endpoints'),
    https,
    ttl: ttlOf(config.ttl),
    namespace: namespaceOf(config.namespace),
    auth: credentials(config.auth, 'auth'),
    tls: https ? readTls((tlsField ?? {}) as Record<string, unknown>, 'tls field') : undefined,
    connectTimeoutMs: CONNECT_TIMEOUT_MS,
    shareConnection: booleanField(config.shareConnection, 'shareConnection', true),
  });
}

function finish(options: EtcdOptions): EtcdOptions {
  const tls = options.tls;
  if (tls && (tls.cert === undefined) !== (tls.key === undefined)) {
    throw new ConfigError('invalid tls: a client certificate needs its key and a key needs its certificate; give both cert and key, or neither');
  }
  return options;
}

function ttlOf(value: unknown): number {
  return positiveNumber(value, 'ttl', 1, 86_400, DEFAULT_TTL_SECONDS);
}

function namespaceOf(value: unknown): string {
  if (value === undefined) return '';
  // eslint-disable-next-line no-control-regex
  if (typeof value !== 'string' || value.length > 200 || /[\u0000-\u001f]/.test(value)) {
    throw new ConfigError(
      `invalid namespace ${describe(value)}: namespace must be a string of at most 200 printable characters, put before every key (e.g. "app1/")`,
    );
  }
  return value;
}

/** Each of ca/cert/key: PEM text or a path to a PEM file. */
function readTls(fields: Record<string, unknown>, where: string): EtcdOptions['tls'] {
  return readTlsFiles(fields, where);
}
