/**
 * Output of the read commands: short human lines by default, JSON with `--json`. Tokens are
 * decimal strings in JSON (they are 64-bit revisions, beyond a JSON number's exact range).
 * @module
 */
import type { DoubleBarrierStatus, LeaderInfo, QueueMember, QueueStatus } from '../index.js';

export function leaderJson(leader: LeaderInfo | undefined): unknown {
  return leader ? { value: leader.value, token: leader.token.toString(), key: leader.key } : null;
}

export function leaderLine(name: string, leader: LeaderInfo | undefined): string {
  if (!leader) return `no leader of ${JSON.stringify(name)}`;
  return `leader of ${JSON.stringify(name)}: ${JSON.stringify(leader.value)} (token ${leader.token}, key ${leader.key})`;
}

/** What kind of recipe a queue looks like, from its keys' roles and values; 'unused' when it has none. */
export type QueueKind = 'lock' | 'election' | 'read-write lock' | 'semaphore' | 'unused';

export interface StatusReport {
  readonly kind: QueueKind;
  readonly status: QueueStatus;
  /** The semaphore's permits when given; undefined when not known. */
  readonly permits: number | undefined;
  /** Milliseconds since the epoch at which the snapshot was taken, for ages. */
  readonly now: number;
}

/** A double barrier found under a name no queue uses. */
export interface DoubleBarrierReport {
  readonly kind: 'double barrier';
  readonly barrier: DoubleBarrierStatus;
  /** Milliseconds since the epoch at which the snapshot was taken, for ages. */
  readonly now: number;
}

function ageMs(member: QueueMember, now: number): number | null {
  return member.createdAt === undefined ? null : Math.max(0, now - member.createdAt);
}

function memberJson(member: QueueMember, now: number): Record<string, unknown> {
  return {
    key: member.key,
    token: member.token.toString(),
    role: member.role,
    value: member.value,
    createdAt: member.createdAt === undefined ? null : new Date(member.createdAt).toISOString(),
    ageMs: ageMs(member, now),
  };
}

export function statusJson(report: StatusReport): unknown {
  const { status, now } = report;
  return {
    name: status.name,
    // Nobody uses the name: no kind can be told, and none is guessed.
    kind: report.kind === 'unused' ? null : report.kind,
    ...(report.kind === 'semaphore' ? { permits: report.permits ?? null } : {}),
    holders: status.holders.map((m) => memberJson(m, now)),
    waiters: status.waiters.map((m, position) => ({ position, ...memberJson(m, now) })),
  };
}

export function doubleBarrierJson(report: DoubleBarrierReport): unknown {
  const { barrier, now } = report;
  return { name: barrier.name, kind: report.kind, ready: barrier.ready, members: barrier.members.map((m) => memberJson(m, now)) };
}

export function doubleBarrierText(report: DoubleBarrierReport): string {
  const { barrier, now } = report;
  const count = `${barrier.members.length} member${barrier.members.length === 1 ? '' : 's'}`;
  const lines = [`double barrier ${JSON.stringify(barrier.name)}: ${count}, ${barrier.ready ? 'all arrived' : 'waiting for the rest'}`];
  if (barrier.members.length === 0) return `${lines.join('\n')}\n`;
  const rows = [['TOKEN', 'AGE', 'KEY'], ...barrier.members.map((m) => [m.token.toString(), formatAge(ageMs(m, now)), m.key])];
  lines.push(...table(rows));
  if (barrier.members.some((m) => m.createdAt === undefined)) lines.push('  (AGE "-": this backend records no creation time for keys)');
  return `${lines.join('\n')}\n`;
}

/** Rows in columns, two spaces apart and indented by two, the last column not padded. */
function table(rows: readonly (readonly string[])[]): string[] {
  const widths = (rows[0] ?? []).map((_, column) => Math.max(...rows.map((r) => (r[column] ?? '').length)));
  return rows.map((r) => `  ${r.map((cell, column) => (column === r.length - 1 ? cell : cell.padEnd(widths[column] ?? 0))).join('  ')}`);
}

/** A duration for people: 850ms, 12.3s, 4m05s, 2h07m. */
export function formatAge(ms: number | null): string {
  if (ms === null) return '-';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const totalSeconds = Math.floor(ms / 1000);
  if (totalSeconds < 3600) return `${Math.floor(totalSeconds / 60)}m${String(totalSeconds % 60).padStart(2, '0')}s`;
  const minutes = Math.floor(totalSeconds / 60);
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}

export function statusText(report: StatusReport): string {
  const { status, now, kind } = report;
  const lines: string[] = [];
  if (kind === 'unused') {
    return `nobody holds or waits for ${JSON.stringify(status.name)}: no lock, election, read-write lock, semaphore or double barrier of that name has keys\n`;
  }
  const permits = kind === 'semaphore' ? ` (${report.permits ?? 'unknown'} permits)` : '';
  lines.push(`${kind} ${JSON.stringify(status.name)}${permits}: ${status.holders.length} holding, ${status.waiters.length} waiting`);
  if (status.holders.length + status.waiters.length === 0) return `${lines.join('\n')}\n`;
  const showValue = kind === 'election';
  const showRole = kind === 'read-write lock';
  const header = ['POSITION', 'TOKEN', 'AGE', ...(showRole ? ['ROLE'] : []), 'KEY', ...(showValue ? ['VALUE'] : [])];
  const rows: string[][] = [header];
  const row = (position: string, member: QueueMember) => [
    position,
    member.token.toString(),
    formatAge(ageMs(member, now)),
    ...(showRole ? [member.role] : []),
    member.key,
    ...(showValue ? [JSON.stringify(member.value)] : []),
  ];
  for (const member of status.holders) rows.push(row(kind === 'election' ? 'leader' : 'holder', member));
  status.waiters.forEach((member, position) => rows.push(row(String(position), member)));
  lines.push(...table(rows));
  const members = [...status.holders, ...status.waiters];
  if (members.some((m) => m.createdAt === undefined)) lines.push('  (AGE "-": this backend records no creation time for keys)');
  if (kind === 'semaphore' && report.permits === undefined) lines.push('  (permits not given: every lease is shown as a holder; pass --permits N)');
  return `${lines.join('\n')}\n`;
}
