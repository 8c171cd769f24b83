/**
 * The ZooKeeper backend's configuration: `zookeeper://[user:pass@]host:port[,host:port...][/chroot]
 * [?sessionTimeout=MS]` (also `zk://`), or the object form {@link ZooKeeperConfig}.
 * @module
 */
import { ConfigError } from '../../errors.js';
import { describe } from '../../validate.js';
import { type BackendUrl, credentials, hostPorts, positiveNumber, rejectUnknownFields, rejectUnknownParams } from '../config-fields.js';

/** An Apache ZooKeeper ensemble. */
export interface ZooKeeperConfig {
  backend: 'zookeeper';
  /** `host:port` of each server. */
  endpoints: string[];
  /** A path prefixed to every node, created by the first write under it when missing. */
  chroot?: string;
  /** Requested session timeout in milliseconds (default 10000); the server may adjust it. */
  sessionTimeout?: number;
  /** Digest credentials; nodes are then created readable by all, writable only by this identity. */
  auth?: { username: string; password: string };
}

/** Validated options of one ZooKeeper backend. */
export interface ZooKeeperOptions {
  /** `host:port` of each server. */
  readonly endpoints: readonly string[];
  /** `''` for none, else an absolute path without a trailing `/` (e.g. `/apps/baton`). */
  readonly chroot: string;
  /** Requested session timeout in milliseconds; the server may negotiate it into its bounds. */
  readonly sessionTimeout: number;
  /** Digest credentials, or undefined for an unauthenticated client. */
  readonly auth: { readonly username: string; readonly password: string } | undefined;
}

/** Curator's and kazoo's default is larger; 10 s keeps loss detection prompt. */
export const DEFAULT_SESSION_TIMEOUT_MS = 10_000;
const MIN_SESSION_TIMEOUT_MS = 100;
const MAX_SESSION_TIMEOUT_MS = 3_600_000;

const URL_FORM = 'zookeeper://[user:pass@]host:port[,host:port...][/chroot][?sessionTimeout=MS]';

/** Parses a `zookeeper://` or `zk://` URL. */
export function optionsFromUrl(url: BackendUrl): ZooKeeperOptions {
  if (url.hosts === '') throw new ConfigError(`invalid ZooKeeper URL "${redact(url)}": no servers given; expected ${URL_FORM}`);
  rejectUnknownParams(url, ['sessionTimeout']);
  let endpoints: string[];
  try {
    endpoints = hostPorts(url.hosts, 'ZooKeeper servers');
  } catch (error) {
    throw new ConfigError(`invalid ZooKeeper URL "${redact(url)}": ${(error as Error).message}; expected ${URL_FORM}`);
  }
  const chrootText = url.path === '' ? '' : safeDecode(url.path, url);
  return {
    endpoints,
    chroot: chrootOf(chrootText, 'chroot in ZooKeeper URL'),
    sessionTimeout: sessionTimeoutOf(url.params.get('sessionTimeout') ?? undefined),
    auth: url.credentials,
  };
}

/** Validates the object form. */
export function optionsFromObject(config: Record<string, unknown>): ZooKeeperOptions {
  rejectUnknownFields(config, ['backend', 'endpoints', 'chroot', 'sessionTimeout', 'auth'] satisfies Array<keyof ZooKeeperConfig>, 'zookeeper config');
  if (config.chroot !== undefined && typeof config.chroot !== 'string') {
    throw new ConfigError(`invalid chroot ${describe(config.chroot)}: chroot must be an absolute path such as "/apps/baton"`);
  }
  return {
    endpoints: hostPorts(config.endpoints, 'endpoints'),
    chroot: chrootOf((config.chroot as string | undefined) ?? '', 'chroot'),
    sessionTimeout: sessionTimeoutOf(config.sessionTimeout),
    auth: credentials(config.auth, 'auth'),
  };
}

function sessionTimeoutOf(value: unknown): number {
  return Math.round(positiveNumber(value, 'sessionTimeout', MIN_SESSION_TIMEOUT_MS, MAX_SESSION_TIMEOUT_MS, DEFAULT_SESSION_TIMEOUT_MS));
}

/** `''` or `/a/b`: absolute, no empty, `.` or `..` segments, no trailing `/`, no control characters. */
export function chrootOf(text: string, field: string): string {
  if (text === '' || text === '/') return '';
  const accepted = `${field} must be an absolute path such as "/apps/baton" (no empty, "." or ".." segments, no trailing "/")`;
  if (!text.startsWith('/') || text.endsWith('/')) throw new ConfigError(`invalid ${field} ${describe(text)}: ${accepted}`);
  for (const segment of text.slice(1).split('/')) {
    if (segment === '' || segment === '.' || segment === '..' || /[\u0000-\u001f\u007f]/.test(segment)) {
      throw new ConfigError(`invalid ${field} ${describe(text)}: ${accepted}`);
    }
  }
  if (text === '/zookeeper' || text.startsWith('/zookeeper/')) {
    throw new ConfigError(`invalid ${field} ${describe(text)}: /zookeeper is reserved by the server; ${accepted}`);
  }
  return text;
}

function safeDecode(text: string, url: BackendUrl): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new ConfigError(`invalid ZooKeeper URL "${redact(url)}": the chroot is not valid percent-encoding`);
  }
}

/** The URL with its password hidden, for error messages. */
function redact(url: BackendUrl): string {
  return url.credentials ? url.raw.replace(/\/\/[^@/]*@/, `//${encodeURIComponent(url.credentials.username)}:***@`) : url.raw;
}
