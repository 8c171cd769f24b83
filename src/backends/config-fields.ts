/**
 * Shared checks for backend configuration fields, so every adapter reports a bad field the same
 * way: which field, what it was, what is accepted.
 * @module
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.js';
import { describe } from '../validate.js';

/** Rejects fields that the backend does not know, naming the ones it does. */
export function rejectUnknownFields(config: Record<string, unknown>, known: readonly string[], where: string): void {
  for (const field of Object.keys(config)) {
    if (!known.includes(field)) {
      throw new ConfigError(`unknown field "${field}" in ${where}: accepted fields are ${known.join(', ')}`);
    }
  }
}

/** Rejects URL query parameters that the backend does not know. */
export function rejectUnknownParams(url: BackendUrl, known: readonly string[]): void {
  for (const key of url.params.keys()) {
    if (!known.includes(key)) {
      const accepted = known.length ? `accepted parameters are ${known.join(', ')}` : 'this backend takes no parameters';
      throw new ConfigError(`unknown parameter "${key}" in ${url.scheme}:// URL: ${accepted}`);
    }
  }
}

/** A positive finite number within [min, max], or `fallback` when absent. */
export function positiveNumber(value: unknown, field: string, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isFinite(number) || number < min || number > max) {
    throw new ConfigError(`invalid ${field} ${describe(value)}: ${field} must be a number from ${min} to ${max}`);
  }
  return number;
}

/** A list of `host:port` endpoints, from an array or a comma-separated string. */
export function hostPorts(value: unknown, field: string): string[] {
  const list = typeof value === 'string' ? value.split(',') : value;
  const accepted = `${field} must be a non-empty list of host:port (e.g. ["127.0.0.1:2379"])`;
  if (!Array.isArray(list) || list.length === 0) throw new ConfigError(`invalid ${field} ${describe(value)}: ${accepted}`);
  return list.map((item) => {
    if (typeof item !== 'string' || !/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+):\d{1,5}$/.test(item.trim())) {
      throw new ConfigError(`invalid ${field} entry ${describe(item)}: ${accepted}`);
    }
    const port = Number(item.trim().split(':').pop());
    if (port < 1 || port > 65535) throw new ConfigError(`invalid port in ${field} entry ${describe(item)}: ports are 1-65535`);
    return item.trim();
  });
}

/** `{ username, password }` or undefined. */
export function credentials(value: unknown, field: string): { username: string; password: string } | undefined {
  if (value === undefined) return undefined;
  const v = value as { username?: unknown; password?: unknown };
  if (typeof v !== 'object' || v === null || typeof v.username !== 'string' || v.username === '' || typeof v.password !== 'string') {
    throw new ConfigError(`invalid ${field}: expected { username: non-empty string, password: string }`);
  }
  return { username: v.username, password: v.password };
}

/**
 * A backend URL taken apart: `scheme://[user:pass@]host:port[,host:port...][/path][?query]`.
 * WHATWG `URL` rejects several hosts in one authority, which cluster URLs need, hence this parser.
 */
export interface BackendUrl {
  readonly raw: string;
  readonly scheme: string;
  /** Decoded `user:pass@`, or undefined. */
  readonly credentials: { username: string; password: string } | undefined;
  /** The authority's host list as written (may be empty, e.g. `memory://`). */
  readonly hosts: string;
  /** The path after the hosts, `''` when none (e.g. `/chroot`). */
  readonly path: string;
  readonly params: URLSearchParams;
}

/** Takes a backend URL apart; throws a ConfigError when it has no `scheme://`. */
export function parseBackendUrl(raw: string, source: string): BackendUrl {
  const match = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)([^?#]*)(?:\?([^#]*))?$/i.exec(raw);
  if (!match) throw new ConfigError(`invalid ${source} URL ${describe(raw)}: expected scheme://[user:pass@]host:port[,host:port...][/path][?param=value]`);
  const [, scheme = '', authority = '', path = '', query = ''] = match;
  const at = authority.lastIndexOf('@');
  let credentials: BackendUrl['credentials'];
  if (at >= 0) {
    const userInfo = authority.slice(0, at);
    const colon = userInfo.indexOf(':');
    const username = decodeURIComponent(colon < 0 ? userInfo : userInfo.slice(0, colon));
    const password = colon < 0 ? '' : decodeURIComponent(userInfo.slice(colon + 1));
    if (username === '') throw new ConfigError(`invalid credentials in ${source} URL: a password was given without a user name`);
    credentials = { username, password };
  }
  return {
    raw,
    scheme: scheme.toLowerCase(),
    credentials,
    hosts: at >= 0 ? authority.slice(at + 1) : authority,
    path: path === '/' ? '' : path,
    params: new URLSearchParams(query),
  };
}

/** TLS material as the adapters take it: each of ca/cert/key as file contents. */
export interface TlsFiles {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

/** Each of ca/cert/key: a Buffer, PEM text (starting with -----BEGIN) or a path to a PEM file. */
export function readTlsFiles(fields: Record<string, unknown>, where: string): TlsFiles {
  const tls: TlsFiles = {};
  for (const name of ['ca', 'cert', 'key'] as const) {
    const value = fields[name];
    if (value === undefined) continue;
    if (Buffer.isBuffer(value)) {
      tls[name] = value;
      continue;
    }
    if (typeof value !== 'string' || value.trim() === '') {
      throw new ConfigError(`invalid ${name} in ${where} ${describe(value)}: expected PEM text or the path of a PEM file`);
    }
    if (value.trimStart().startsWith('-----BEGIN')) {
      tls[name] = Buffer.from(value);
      continue;
    }
    try {
      tls[name] = readFileSync(value);
    } catch (error) {
      throw new ConfigError(`invalid ${name} in ${where}: cannot read ${describe(value)} (${(error as Error).message}); expected PEM text or the path of a PEM file`, {
        cause: error,
      });
    }
  }
  return tls;
}

/** A `readonly` URL parameter: a coordinator that only reads (PostgreSQL, Redis). */
export function readOnlyParam(value: string | undefined): boolean {
  return booleanParam(value, 'readonly', false);
}

/** The object form's `readOnly` field. */
export function readOnlyField(value: unknown): boolean {
  return booleanField(value, 'readOnly', false);
}

/** A yes/no URL parameter `name`: true, false, 1 or 0; `fallback` when absent. */
export function booleanParam(value: string | undefined, name: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (value === 'false' || value === '0') return false;
  if (value === 'true' || value === '1') return true;
  throw new ConfigError(`invalid ${name} ${describe(value)}: ${name} must be true, false, 1 or 0`);
}

/** A yes/no field `name` of an object form: true or false; `fallback` when absent. */
export function booleanField(value: unknown, name: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new ConfigError(`invalid ${name} ${describe(value)}: ${name} must be true or false`);
  return value;
}
