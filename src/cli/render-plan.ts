/**
 * The text of a plan (`setpoint plan`, the confirmation of `apply`, what `apply` left undone): per target,
 * each change with its mark (+ add, ~ change, - destroy) and risk, then every changed field of its
 * resource as `before -> after`, and a closing summary ("2 to add, 1 to change, 1 to destroy"). Secrets
 * are never shown: a password field says only that it differs. Pure: unit-tested on literals.
 */
import { paint as makePaint, type Paint } from '../color.js';
import type { DriftRecord, PlannedChange } from '../status.js';
import { printable } from './basics.js';

/** What the renderer needs of a pass outcome (plan's and apply's outcomes have it). */
export interface PlanOutcome {
  target: { key: string };
  server?: string;
  error?: { message: string };
  drift?: DriftRecord[];
  changes: PlannedChange[];
}

const ADD = new Set(['create', 'grant', 'add', 'install']);
const DESTROY = new Set(['drop', 'revoke', 'remove', 'delete']);

/** `add`, `destroy` or `change`: what a change does to its resource, for the mark and the summary. */
export function changeClass(action: string): 'add' | 'change' | 'destroy' {
  if (ADD.has(action)) return 'add';
  if (DESTROY.has(action)) return 'destroy';
  return 'change';
}

const MARK = { add: '+', change: '~', destroy: '-' } as const;

/** True for a value that stands for a secret (a password, a verifier): shown as "(changed)", never as a value. */
function secretField(d: DriftRecord): boolean {
  return (
    /password|secret|verifier/i.test(d.field) ||
    [d.desired, d.observed].some((v) => typeof v === 'string' && v.includes('[secret]'))
  );
}

/** A value as a DBA reads it: lists joined, nothing as "(none)", text as is. */
export function valueText(v: unknown): string {
  if (v === null || v === undefined) return '(none)';
  if (Array.isArray(v)) return v.length === 0 ? '(none)' : v.map((x) => valueText(x)).join(', ');
  if (typeof v === 'string') return v === '' ? '""' : v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

/**
 * One line per changed field of a resource: `max_connections: 200 -> 500`. The field `value` (a
 * setting) is named by the resource's id; `present`/`absent` are the resource itself (its change says
 * create or drop) and give no line.
 */
export function fieldLines(drift: readonly DriftRecord[]): string[] {
  const out: string[] = [];
  for (const d of drift) {
    if (d.field === 'present' || d.field === 'absent') continue;
    const space = d.resource.indexOf(' ');
    const label = d.field === 'value' && space !== -1 ? d.resource.slice(space + 1) : d.field;
    out.push(
      secretField(d)
        ? `${printable(label)}: (changed; secrets are not shown)`
        : `${printable(label)}: ${printable(valueText(d.observed))} -> ${printable(valueText(d.desired))}`,
    );
  }
  return out;
}

/** "2 to add, 1 to change, 1 to destroy". */
export function planSummary(changes: readonly PlannedChange[]): string {
  const n = { add: 0, change: 0, destroy: 0 };
  for (const c of changes) n[changeClass(c.action)]++;
  return `${n.add} to add, ${n.change} to change, ${n.destroy} to destroy`;
}

export function renderPlan(outcomes: readonly PlanOutcome[], p: Paint = makePaint(false)): string {
  let out = '';
  const all: PlannedChange[] = [];
  let waiting = 0;
  const colour = { add: p.green, change: p.yellow, destroy: p.red };
  for (const o of outcomes) {
    const head = p.bold(`${printable(o.target.key)}${o.server === undefined ? '' : ` (${printable(o.server)})`}`);
    if (o.error !== undefined) {
      out += `${head}: ${p.red('ERROR')} ${printable(o.error.message)}\n`;
      continue;
    }
    if (o.changes.length === 0) {
      out += `${head}: no changes\n`;
      continue;
    }
    out += `${head}: ${o.changes.length} change${o.changes.length === 1 ? '' : 's'}\n`;
    const shown = new Set<string>();
    for (const c of o.changes) {
      all.push(c);
      const cls = changeClass(c.action);
      const risk = (c.risk === 'destructive' ? p.red : c.risk === 'disruptive' ? p.yellow : (s: string) => s)(
        c.risk.padEnd(11),
      );
      out += `  ${colour[cls](MARK[cls])} ${risk} ${printable(c.summary)}\n`;
      if (!shown.has(c.resource)) {
        shown.add(c.resource);
        for (const l of fieldLines((o.drift ?? []).filter((d) => d.resource === c.resource)))
          out += `      ${colour.change('~')} ${l}\n`;
      }
      if (c.status === 'waiting') {
        waiting++;
        out += `      ${p.yellow('waiting:')} ${printable(c.reason ?? '')}\n`;
      }
    }
  }
  const errors = outcomes.filter((o) => o.error !== undefined).length;
  out += `\n${p.bold('Plan:')} ${planSummary(all)}`;
  out += ` (${all.length} change${all.length === 1 ? '' : 's'} on ${outcomes.length} target${outcomes.length === 1 ? '' : 's'}`;
  if (waiting > 0) out += `, ${waiting} waiting on policy`;
  if (errors > 0) out += `, ${errors} target${errors === 1 ? '' : 's'} not observed`;
  return out + ').\n';
}
