/**
 * The dashboard's scan on PostgreSQL: every contender key (a row with a session) at any depth
 * below a prefix, with its session's remaining time from the server's clock. The tree's
 * notifications are subscribed to, and LISTEN is in force, before the read, so a change after it
 * is never missed.
 * @module
 */
import { abortable } from '../abortable.js';
import type { Role, ScannedKey, ScanResult, Watched } from '../contract.js';
import type { Link } from './link.js';
import type { Listener } from './listener.js';
import { ident } from './schema.js';

export interface ScanHost {
  readonly link: Link;
  readonly listener: Listener;
  readonly options: { readonly schema: string };
}

interface Row {
  key: string;
  prefix: string;
  revision: string;
  role: Role;
  value: string;
  session_id: string;
  created_at: Date;
  remaining_ms: string;
}

export async function scanPostgres(host: ScanHost, prefix: string, signal: AbortSignal): Promise<Watched<ScanResult>> {
  const s = ident(host.options.schema);
  let fire: () => void = () => {};
  let unsubscribe = () => {};
  const changed = abortable<void>(signal, (resolve) => {
    fire = () => resolve();
    return () => unsubscribe();
  });
  unsubscribe = host.listener.onTree(prefix, () => fire());
  void changed.catch(() => {});
  try {
    await host.listener.ready(signal);
    const result = await host.link.run(
      `scanning ${prefix || 'every name'}`,
      {
        text:
          `SELECT k.key, k.prefix, k.revision::text AS revision, k.role, k.value, k.session_id::text AS session_id, k.created_at, ` +
          `GREATEST(0, floor(EXTRACT(EPOCH FROM (x.expires_at - clock_timestamp())) * 1000))::text AS remaining_ms ` +
          `FROM ${s}.keys k JOIN ${s}.sessions x ON x.id = k.session_id ` +
          `WHERE $1 = '' OR left(k.key, length($1) + 1) = $1 || '/' ORDER BY k.revision`,
        values: [prefix],
      },
      'idempotent',
      signal,
    );
    const rows = result.rows as Row[];
    const keys: ScannedKey[] = rows.map((row) => ({
      key: row.key,
      parent: row.prefix,
      role: row.role,
      revision: BigInt(row.revision),
      value: row.value,
      session: row.session_id,
      createdAt: row.created_at.getTime(),
    }));
    const sessions = new Map(rows.map((row) => [row.session_id, Number(row.remaining_ms)]));
    return { current: { keys, sessions }, changed };
  } catch (error) {
    unsubscribe();
    throw error;
  }
}
