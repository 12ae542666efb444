/**
 * Maintenance windows (cron start + duration, in a time zone) and the gate that lets disruptive
 * changes run one host of a cluster at a time, the next only after the previous is healthy again.
 */
import { createRequire } from 'node:module';
import type { CronExpressionParser as Parser } from 'cron-parser';
import type { MaintenanceWindow } from '../spec/types.js';
import type { StepPolicy } from './policy.js';
import type { TargetBase } from './targets.js';

/** cron-parser, loaded the first time a window is looked at (files without windows never need it). */
let parser: typeof Parser | undefined;
function cronParser(): typeof Parser {
  parser ??= (createRequire(import.meta.url)('cron-parser') as { CronExpressionParser: typeof Parser })
    .CronExpressionParser;
  return parser;
}

export type WindowState = { open: true; until: Date } | { open: false; next?: Date };

/** Is a window open at `now`, and if not, when does the next one start? */
export function windowState(windows: readonly MaintenanceWindow[], now: Date): WindowState {
  let next: Date | undefined;
  let until: Date | undefined;
  for (const w of windows) {
    // The latest start at or before now: parse from just after now and step back.
    const back = cronParser().parse(w.cron, { currentDate: new Date(now.getTime() + 1000), tz: w.timezone });
    const start = back.prev().toDate();
    const end = new Date(start.getTime() + w.minutes * 60_000);
    if (start.getTime() <= now.getTime() && end.getTime() > now.getTime()) {
      if (until === undefined || end > until) until = end;
    }
    const fwd = cronParser().parse(w.cron, { currentDate: now, tz: w.timezone });
    const n = fwd.next().toDate();
    if (next === undefined || n < next) next = n;
  }
  if (until !== undefined) return { open: true, until };
  return next === undefined ? { open: false } : { open: false, next };
}

/** Checks a cron expression and time zone; returns an error message or undefined. */
export function checkWindow(cron: string, timezone: string): string | undefined {
  try {
    new Intl.DateTimeFormat('en', { timeZone: timezone });
  } catch {
    return `unknown time zone "${timezone}" (expected an IANA name like UTC or Europe/Berlin)`;
  }
  try {
    cronParser().parse(cron, { tz: timezone });
  } catch (err) {
    return `invalid cron expression "${cron}": ${(err as Error).message}`;
  }
  return undefined;
}

/**
 * One disruptive change per cluster at a time. A target takes the cluster's token before a
 * disruptive change and gives it back once it is observed healthy again; a cluster whose other
 * members are not healthy gets no disruptive change at all.
 */
export class DisruptionGate {
  private readonly holders = new Map<string, string>();

  constructor(
    /** Latest known health of a target (by key): true healthy, false not, undefined unknown. */
    private readonly healthy: (key: string) => boolean | undefined = () => true,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /**
   * Whether a disruptive change may run on `t` now, and why not. `members` are the keys of its cluster
   * whose health must be known good first (none for the cluster's topology pass: it judges members itself).
   */
  check(t: TargetBase, members: readonly string[]): StepPolicy['disruptive'] {
    const windows = t.policy.maintenanceWindows;
    if (windows.length === 0)
      return {
        allowed: false,
        reason: 'disruptive: no maintenance window is declared (policy.maintenanceWindows)',
        code: 'no-window',
      };
    const w = windowState(windows, this.now());
    if (!w.open)
      return {
        allowed: false,
        reason: `waiting for window ${w.next?.toISOString() ?? '(none ahead)'}`,
        code: 'window',
      };
    const holder = this.holders.get(t.cluster);
    if (holder !== undefined && holder !== t.key)
      return {
        allowed: false,
        reason: `waiting: ${holder} of this cluster goes first (one host at a time)`,
        code: 'one-at-a-time',
      };
    // Every other member must be known healthy: one not observed yet (after a restart of setpoint) may be down.
    for (const m of members) {
      if (m === t.key) continue;
      const h = this.healthy(m);
      if (h !== true)
        return {
          allowed: false,
          reason: `waiting: ${m} of this cluster is ${h === false ? 'not healthy' : 'not observed yet'}`,
          code: h === false ? 'member-unhealthy' : 'member-unobserved',
        };
    }
    return { allowed: true };
  }

  /** Takes the cluster's token for `t`; false when another member holds it. */
  take(t: TargetBase): boolean {
    const holder = this.holders.get(t.cluster);
    if (holder !== undefined && holder !== t.key) return false;
    this.holders.set(t.cluster, t.key);
    return true;
  }

  /** Gives the token back: `t` was observed healthy after its disruptive change. */
  release(t: TargetBase): void {
    if (this.holders.get(t.cluster) === t.key) this.holders.delete(t.cluster);
  }

  holder(cluster: string): string | undefined {
    return this.holders.get(cluster);
  }
}
