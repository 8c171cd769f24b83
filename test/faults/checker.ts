/**
 * The history checker: reads what the clients, the runner and the resource logged during one run
 * and decides whether Baton kept its promises. Pure: a history in, a report out, so that a saved
 * history can be checked again (check.mjs) and the checker itself tested on crafted histories.
 *
 * Times are milliseconds after the run's start on the machine's monotonic clock. A hold is
 * "believed held" by its client from its `acquired` line to the first of its `lost` line and its
 * `release-invoke` line. A hold is excused from the moment its client was paused (SIGSTOP) when
 * the client noticed the loss within 1 s of running again: a paused process cannot act, and no
 * lock can stop a paused holder from believing (fencing is what protects the resource then).
 */
import type { ClientEvent, History } from './history.js';

/** How late a client may notice a loss after it runs again (its timers fire first). */
export const PAUSE_NOTICE_MS = 1000;
/** How far past its timeoutMs an acquire may return. */
export const ACQUIRE_SLACK_MS = 250;

export interface CheckResult {
  name: string;
  ok: boolean;
  /** What the check looked at, in one phrase. */
  about: string;
  violations: string[];
}

export interface Figures {
  acquisitions: number;
  failedAcquires: Record<string, number>;
  lostHolds: number;
  writesAccepted: number;
  writesRefused: number;
  guardedCommitted: number;
  guardedRefused: number;
  /** Loss latency per client-aimed fault: from the fault (or the client's resume) to its `lost`. */
  lossLatencyMs: number[];
  /** For each lost hold, how long before the next grant to another client the loss was signalled. */
  minHandoffMarginMs: number | undefined;
  /** The longest stretch without any grant, and when it began. */
  longestGrantGapMs: number;
  longestGrantGapAtMs: number;
  /** From the last heal to the next grant. */
  recoveryAfterHealMs: number | undefined;
  maxAcquireOverrunMs: number;
  /** The longest a client did not run after an acquire's deadline (machine load), excused above. */
  maxSchedulingLagMs: number;
  maxReleaseMs: number;
  pausesBetweenReadAndWrite: number;
  durationMs: number;
}

export interface Report {
  scenario: string;
  backend: string;
  /** Every check passed (for a negative control: the expected violation was found). */
  ok: boolean;
  /** Whether some check found a violation. */
  violated: boolean;
  expectViolation: boolean;
  checks: CheckResult[];
  figures: Figures;
}

interface Hold {
  c: number;
  mode: string;
  token: bigint;
  key: string;
  start: number;
  lostAt?: number;
  lostReason?: string;
  releaseAt?: number;
  releaseDoneAt?: number;
  /** End of belief: lost or release started (or the client's last line). */
  end: number;
  /** Set when excused: belief after this moment (the pause) is not held against the client. */
  excusedFrom?: number;
}

interface Acquisition {
  c: number;
  mode: string;
  invokeAt: number;
  doneAt?: number;
  ok: boolean;
  error?: { name: string; message: string; baton: boolean };
  /** How late the client's own timers ran during the acquire (it was not scheduled). */
  lagMs: number;
}

interface Pause {
  c: number;
  at: number;
  resumeAt: number;
  /** The client's last line before the pause was its read of the resource. */
  betweenReadAndWrite: boolean;
}

const MAX_LISTED = 12;
/** The checks a negative control (an unfenced resource) must trip. */
const CONTROL_CHECKS = new Set(['resource-monotonic', 'resource-counter']);
/** The lines that report a failed Baton call, whose error must be a BatonError. */
const BATON_CALLS = new Set(['connect-failed', 'acquire-failed', 'release-failed', 'gwrite-error', 'close-failed']);

function listed(items: string[]): string[] {
  return items.length > MAX_LISTED ? [...items.slice(0, MAX_LISTED), `... and ${items.length - MAX_LISTED} more`] : items;
}

export function checkHistory(history: History): Report {
  const { meta, nemesis, resource, final } = history;
  const t0 = BigInt(meta.t0);
  const ms = (t: string) => Number(BigInt(t) - t0) / 1e6;
  const endOfRun = ms(final.t);
  const r = (n: number) => Math.round(n);

  // Pauses of clients, from the runner's log.
  const pauses: Pause[] = [];
  for (const event of nemesis) {
    if (event.ev === 'pause-client') pauses.push({ c: event.c!, at: ms(event.t), resumeAt: endOfRun, betweenReadAndWrite: false });
    if (event.ev === 'resume-client') {
      const open = pauses.findLast((p) => p.c === event.c && p.resumeAt === endOfRun);
      if (open) open.resumeAt = ms(event.t);
    }
  }
  const heals = nemesis.filter((e) => e.ev === 'healed').map((e) => ms(e.t));
  const lastHeal = heals.length ? Math.max(...heals) : 0;

  // Holds and acquisitions, client by client.
  const holds: Hold[] = [];
  const acquisitions: Acquisition[] = [];
  const errors: string[] = [];
  const releaseDurations: number[] = [];
  let writesAccepted = 0;
  let writesRefused = 0;
  const guardedWrites: Array<{ key: string; token: string; committed: boolean | undefined; at: number }> = [];
  for (const events of history.clients) {
    let hold: Hold | undefined;
    let pending: Acquisition | undefined;
    let last: ClientEvent | undefined;
    for (const event of events) {
      const at = ms(event.t);
      const error = event.error as Acquisition['error'] | undefined;
      for (const pause of pauses) {
        if (pause.c === event.c && last && ms(last.t) <= pause.at && at >= pause.at && last.ev === 'read') pause.betweenReadAndWrite = true;
      }
      switch (event.ev) {
        case 'invoke':
          pending = { c: event.c, mode: String(event.mode), invokeAt: at, ok: false, lagMs: 0 };
          acquisitions.push(pending);
          break;
        case 'acquired':
          if (pending) Object.assign(pending, { doneAt: at, ok: true, lagMs: Number(event.lagMs ?? 0) });
          pending = undefined;
          hold = { c: event.c, mode: String(event.mode), token: BigInt(String(event.token)), key: String(event.key), start: at, end: Infinity };
          holds.push(hold);
          break;
        case 'acquire-failed':
          if (pending) Object.assign(pending, { doneAt: at, ok: false, error, lagMs: Number(event.lagMs ?? 0) });
          pending = undefined;
          break;
        case 'lost':
          if (hold && hold.lostAt === undefined) {
            hold.lostAt = at;
            hold.lostReason = (event.reason as { name?: string } | undefined)?.name;
          }
          break;
        case 'release-invoke':
          if (hold) hold.releaseAt = at;
          break;
        case 'released':
        case 'release-failed':
          if (hold) {
            hold.releaseDoneAt = at;
            if (hold.releaseAt !== undefined) releaseDurations.push(at - hold.releaseAt);
          }
          hold = undefined;
          break;
        case 'write-ok':
          writesAccepted++;
          break;
        case 'write-refused':
          writesRefused++;
          break;
        case 'gwrite-result':
        case 'gwrite-error':
          guardedWrites.push({ key: String(event.key), token: String(event.token), committed: event.ev === 'gwrite-result' ? Boolean(event.committed) : undefined, at });
          break;
      }
      if (error && !error.baton && BATON_CALLS.has(event.ev)) errors.push(`client ${event.c} at ${r(at)} ms, ${event.ev}: ${error.name}: ${error.message}`);
      if (event.ev === 'crash') {
        const crashed = event.error as Acquisition['error'];
        errors.push(`client ${event.c} crashed at ${r(at)} ms: ${crashed?.name}: ${crashed?.message} (${String(event.stack ?? '').split('\n')[1]?.trim() ?? ''})`);
      }
      last = event;
    }
  }
  const lastLineOf = new Map<number, number>();
  history.clients.forEach((events) => events.length && lastLineOf.set(events[0]!.c, ms(events.at(-1)!.t)));
  for (const hold of holds) {
    hold.end = Math.min(hold.lostAt ?? Infinity, hold.releaseAt ?? Infinity, lastLineOf.get(hold.c) ?? endOfRun);
    const pause = pauses.find((p) => p.c === hold.c && p.at >= hold.start && p.at < hold.end);
    if (pause && hold.lostAt !== undefined && hold.lostAt <= pause.resumeAt + PAUSE_NOTICE_MS) hold.excusedFrom = pause.at;
  }
  const effectiveEnd = (h: Hold) => Math.min(h.end, h.excusedFrom ?? Infinity);
  const exclusive = meta.recipe !== 'semaphore';
  const conflicts = (a: Hold, b: Hold) => (meta.recipe === 'rwlock' ? a.mode === 'write' || b.mode === 'write' : exclusive);
  const exclusiveHolds = holds.filter((h) => exclusive && (meta.recipe !== 'rwlock' || h.mode === 'write')).sort((a, b) => a.start - b.start);
  const checks: CheckResult[] = [];
  const add = (name: string, about: string, violations: string[]) => checks.push({ name, about, ok: violations.length === 0, violations: listed(violations) });
  const describeHold = (h: Hold) => `client ${h.c} token ${h.token} [${r(h.start)}-${h.end === Infinity ? 'end' : r(h.end)} ms]`;

  // 1. Fencing tokens strictly increase across successive exclusive holders.
  {
    const violations: string[] = [];
    for (let i = 1; i < exclusiveHolds.length; i++) {
      const [a, b] = [exclusiveHolds[i - 1]!, exclusiveHolds[i]!];
      if (b.token <= a.token) violations.push(`${describeHold(b)} granted after ${describeHold(a)}`);
    }
    add('token-order', 'tokens strictly increase across holders of a mutex, a write lock and leadership', exclusive ? violations : []);
  }

  // 2. One holder per token.
  {
    const byToken = new Map<bigint, Hold[]>();
    for (const h of holds) byToken.set(h.token, [...(byToken.get(h.token) ?? []), h]);
    const violations = [...byToken.values()].filter((hs) => hs.length > 1).map((hs) => `token ${hs[0]!.token} held by ${hs.map(describeHold).join(' and ')}`);
    add('token-unique', 'one holder per token', violations);
  }

  // 3. Exclusion: believed-held intervals never overlap beyond what the recipe admits.
  {
    const violations: string[] = [];
    const sorted = [...holds].sort((a, b) => a.start - b.start);
    let active: Hold[] = [];
    for (const h of sorted) {
      active = active.filter((a) => effectiveEnd(a) > h.start);
      if (effectiveEnd(h) <= h.start) continue;
      if (meta.recipe === 'semaphore') {
        if (active.length + 1 > meta.permits) violations.push(`${active.length + 1} holders of ${meta.permits} permits at ${r(h.start)} ms: ${[...active, h].map(describeHold).join(', ')}`);
      } else {
        for (const a of active) if (conflicts(a, h)) violations.push(`${describeHold(h)} granted while ${describeHold(a)} still believed it held (overlap ${r(effectiveEnd(a) - h.start)} ms)`);
      }
      active.push(h);
    }
    add(
      meta.recipe === 'semaphore' ? 'semaphore-capacity' : 'exclusion',
      meta.recipe === 'semaphore'
        ? `never more than ${meta.permits} believed holders outside pauses`
        : 'believed-held intervals never overlap (a paused holder that noticed its loss within 1 s of resuming excepted)',
      violations,
    );
  }

  // 4. A lost hold is signalled no later than the lock is given to another client.
  const margins: number[] = [];
  {
    const violations: string[] = [];
    for (const a of exclusiveHolds) {
      if (a.lostAt === undefined || (a.releaseAt !== undefined && a.releaseAt < a.lostAt)) continue;
      const next = exclusiveHolds.find((b) => b.c !== a.c && b.start > a.start && conflicts(a, b));
      if (!next) continue;
      if (a.excusedFrom !== undefined) continue;
      margins.push(next.start - a.lostAt);
      if (next.start < a.lostAt) {
        violations.push(`${describeHold(a)}: loss signalled at ${r(a.lostAt)} ms, ${r(a.lostAt - next.start)} ms after ${describeHold(next)} was granted`);
      }
    }
    add('loss-before-handoff', 'a lost hold is signalled no later than the lock is given to another client', exclusive ? violations : []);
  }

  // 5. The resource never accepts a token lower than one it accepted before.
  {
    const violations = resource
      .filter((e) => e.accepted && e.highest !== undefined && BigInt(e.token) < BigInt(e.highest))
      .map((e) => `${e.op} by client ${e.c} with token ${e.token} accepted at ${r(ms(e.t))} ms after token ${e.highest}`);
    add('resource-monotonic', 'the resource never accepts a token lower than one it accepted', violations);
  }

  // 6. The counter equals the accepted increments (no update lost to a stale holder).
  {
    const violations = final.counter === final.acceptedWrites ? [] : [`counter ${final.counter} after ${final.acceptedWrites} accepted increments`];
    add('resource-counter', 'the final counter equals the accepted increments', violations);
  }

  // 7. The counter kept in the backend through guardedWrite.
  if (meta.guarded) {
    const violations: string[] = [];
    const stored = new Map(final.counterKeys.map((k) => [k.key.slice(k.key.lastIndexOf('/') + 1), k]));
    for (const w of guardedWrites) {
      const present = stored.has(w.key.slice(w.key.lastIndexOf('/') + 1));
      if (w.committed === true && !present) violations.push(`write ${w.key} reported committed but is missing`);
      if (w.committed === false && present) violations.push(`write ${w.key} reported refused but is present`);
    }
    const byRevision = [...final.counterKeys].sort((a, b) => (BigInt(a.revision) < BigInt(b.revision) ? -1 : 1));
    for (let i = 1; i < byRevision.length; i++) {
      if (BigInt(byRevision[i]!.value) < BigInt(byRevision[i - 1]!.value)) {
        violations.push(`${byRevision[i]!.key} (token ${byRevision[i]!.value}) committed after ${byRevision[i - 1]!.key} (token ${byRevision[i - 1]!.value})`);
      }
    }
    add('guarded-writes', 'guarded writes commit only in token order, and exactly those reported committed', violations);
  }

  // 8. Every client acquires again after the faults heal.
  {
    const clientsSeen = history.clients.map((events) => events[0]?.c).filter((c): c is number => c !== undefined);
    const violations = clientsSeen
      .filter((c) => !holds.some((h) => h.c === c && h.start > lastHeal))
      .map((c) => `client ${c} acquired nothing after the last heal at ${r(lastHeal)} ms`);
    add('progress', 'every client acquires again after the faults heal', violations);
  }

  // 9. No acquire outlives its timeoutMs by more than the slack (time spent paused excepted).
  let maxOverrun = -Infinity;
  let maxLag = 0;
  {
    const violations: string[] = [];
    const killedAt = new Map(final.clientExits.filter((e) => e.killed).map((e) => [e.c, ms(e.t)]));
    for (const a of acquisitions) {
      const doneAt = a.doneAt ?? killedAt.get(a.c);
      if (doneAt === undefined) continue;
      // Only time the client did not run after its deadline can have made it late: its timers
      // count on the monotonic clock, so a pause before the deadline delays nothing. A pause is
      // also a stall to the client's own meter: the larger of the two is excused, not their sum.
      const deadline = a.invokeAt + meta.timeoutMs;
      const pausedLate = pauses.filter((p) => p.c === a.c).reduce((sum, p) => sum + Math.max(0, Math.min(doneAt, p.resumeAt) - Math.max(deadline, p.at)), 0);
      const excused = Math.max(pausedLate, a.lagMs);
      const overrun = doneAt - deadline - excused;
      maxOverrun = Math.max(maxOverrun, overrun);
      maxLag = Math.max(maxLag, a.lagMs);
      if (overrun > ACQUIRE_SLACK_MS) {
        const lag = excused ? `, ${r(excused)} ms after its deadline not running (paused or not scheduled)` : '';
        violations.push(`client ${a.c} acquire at ${r(a.invokeAt)} ms ${a.doneAt === undefined ? 'never returned' : a.ok ? 'granted' : `rejected (${a.error?.name})`} after ${r(doneAt - a.invokeAt)} ms${lag} (timeoutMs ${meta.timeoutMs})`);
      }
    }
    add('acquire-bounded', `no acquire outlives its timeoutMs by more than ${ACQUIRE_SLACK_MS} ms (time the client did not run after its deadline excepted)`, violations);
  }

  // 10. No contender key remains once the sessions have ended or expired.
  add('no-leftover-keys', 'no contender keys remain once sessions have expired', final.leftover.map((k) => `${k.key} (revision ${k.revision})`));

  // 11. Every error is a BatonError; clients do not crash and stop when told.
  {
    const stops = final.clientExits.filter((e) => e.killed || e.code !== 0).map((e) => `client ${e.c} ${e.killed ? 'did not stop within the grace period' : `exited with ${e.code ?? e.signal}`}`);
    add('clean-errors', 'every error is a BatonError, no client crashes, every client stops when told', [...errors, ...stops]);
  }

  // Figures.
  const grants = holds.map((h) => h.start).sort((a, b) => a - b);
  let gap = 0;
  let gapAt = 0;
  for (let i = 1; i < grants.length; i++) {
    if (grants[i]! - grants[i - 1]! > gap) [gap, gapAt] = [grants[i]! - grants[i - 1]!, grants[i - 1]!];
  }
  const lossLatency: number[] = [];
  for (const event of nemesis) {
    if (!['partition-client', 'isolate-follower', 'pause-client'].includes(event.ev) || event.c === undefined) continue;
    const at = ms(event.t);
    const hold = holds.find((h) => h.c === event.c && h.start <= at && h.end > at);
    if (!hold?.lostAt) continue;
    const from = event.ev === 'pause-client' ? (pauses.find((p) => p.c === event.c && p.at === at)?.resumeAt ?? at) : at;
    lossLatency.push(r(hold.lostAt - from));
  }
  const failed: Record<string, number> = {};
  for (const a of acquisitions) if (a.doneAt !== undefined && !a.ok) failed[a.error?.name ?? 'unknown'] = (failed[a.error?.name ?? 'unknown'] ?? 0) + 1;
  const recovery = grants.find((g) => g > lastHeal);
  const figures: Figures = {
    acquisitions: holds.length,
    failedAcquires: failed,
    lostHolds: holds.filter((h) => h.lostAt !== undefined).length,
    writesAccepted,
    writesRefused,
    guardedCommitted: guardedWrites.filter((w) => w.committed === true).length,
    guardedRefused: guardedWrites.filter((w) => w.committed === false).length,
    lossLatencyMs: lossLatency,
    minHandoffMarginMs: margins.length ? r(Math.min(...margins)) : undefined,
    longestGrantGapMs: r(gap),
    longestGrantGapAtMs: r(gapAt),
    recoveryAfterHealMs: heals.length && recovery !== undefined ? r(recovery - lastHeal) : undefined,
    maxAcquireOverrunMs: maxOverrun === -Infinity ? 0 : r(maxOverrun),
    maxSchedulingLagMs: r(maxLag),
    maxReleaseMs: releaseDurations.length ? r(Math.max(...releaseDurations)) : 0,
    pausesBetweenReadAndWrite: pauses.filter((p) => p.betweenReadAndWrite).length,
    durationMs: r(endOfRun),
  };
  const violated = checks.some((c) => !c.ok);
  // A negative control passes on the violation it exists to provoke, not on any other.
  const controlCaught = checks.some((c) => !c.ok && CONTROL_CHECKS.has(c.name));
  return {
    scenario: meta.scenario,
    backend: meta.backend,
    ok: meta.expectViolation ? controlCaught : !violated,
    violated,
    expectViolation: meta.expectViolation,
    checks,
    figures,
  };
}

/** The report as text: one line per check, the violations under it, the figures. */
export function formatReport(report: Report): string {
  const lines = [`${report.ok ? 'PASS' : 'FAIL'} ${report.scenario} on ${report.backend}${report.expectViolation ? ' (negative control: a violation must be found)' : ''}`];
  for (const check of report.checks) {
    lines.push(`  ${check.ok ? 'ok  ' : 'VIOLATED'} ${check.name}: ${check.about}`);
    for (const v of check.violations) lines.push(`           - ${v}`);
  }
  const f = report.figures;
  lines.push(
    `  figures: ${f.acquisitions} acquisitions in ${(f.durationMs / 1000).toFixed(1)} s, failed acquires ${JSON.stringify(f.failedAcquires)}, ` +
      `lost holds ${f.lostHolds}, writes accepted/refused ${f.writesAccepted}/${f.writesRefused}` +
      (f.guardedCommitted + f.guardedRefused ? `, guarded committed/refused ${f.guardedCommitted}/${f.guardedRefused}` : '') +
      `, loss latency ${JSON.stringify(f.lossLatencyMs)} ms, min handoff margin ${f.minHandoffMarginMs ?? '-'} ms, ` +
      `longest grant gap ${f.longestGrantGapMs} ms (at ${f.longestGrantGapAtMs} ms), recovery after heal ${f.recoveryAfterHealMs ?? '-'} ms, ` +
      `max acquire overrun ${f.maxAcquireOverrunMs} ms (scheduling lag up to ${f.maxSchedulingLagMs} ms excused), max release ${f.maxReleaseMs} ms, pauses between read and write ${f.pausesBetweenReadAndWrite}`,
  );
  return lines.join('\n');
}
