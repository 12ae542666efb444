/**
 * The text of `setpoint status`: one row per cluster member that fits the terminal (80–120 columns;
 * `-o wide` adds the last error, spec version and next pass, and cuts nothing). A paused member says
 * `paused`; an error older than the member's last pass is not shown (it is history, not status); the
 * last action keeps its outcome (`ok`, `failed`) however short the cell. Pure: unit-tested on literals.
 */
import type { Condition } from '../status.js';
import type { TargetStatus } from '../history/readers.js';
import { ago, printable } from './basics.js';

export interface StatusView {
  /** Columns available (the terminal's width; 120 when not a terminal). At least 80 is assumed. */
  width: number;
  /** `-o wide`: more columns, nothing cut. */
  wide: boolean;
  now?: number;
  /** Why each paused member (`cluster/host`) is paused. */
  paused?: ReadonlyMap<string, string>;
}

/** Ready or NotReady, then the abnormal conditions that are True. */
export function compactConditions(conditions: readonly Condition[]): string {
  if (conditions.length === 0) return '-';
  const ready = conditions.find((c) => c.type === 'Ready');
  const parts = [ready?.status === 'True' ? 'Ready' : ready?.status === 'Unknown' ? 'Ready?' : 'NotReady'];
  for (const c of conditions) if (c.type !== 'Ready' && c.status === 'True') parts.push(c.type);
  return parts.join(',');
}

/** `ok 3m ago: create user 'app'@'%'`: the outcome first, so a cut cell still says how it ended. */
export function lastActionText(action: string | null, at: number | null, now?: number): string {
  if (action === null) return '-';
  const m = /^(.*) \(([^()]*)\)$/s.exec(action);
  const [summary, outcome] = m === null ? [action, undefined] : [m[1] as string, m[2] as string];
  return `${outcome === undefined ? '' : `${outcome} `}${ago(at, now)}: ${summary}`;
}

/** The error of the member's last pass, or null when its last pass had none (an older error is stale). */
export function currentError(r: Pick<TargetStatus, 'lastError' | 'lastErrorAt' | 'passAt' | 'state'>): string | null {
  if (r.lastError === null || r.state === 'converged') return null;
  if (r.lastErrorAt !== null && r.passAt !== null && r.lastErrorAt < r.passAt) return null;
  return r.lastError;
}

function cut(s: string, max: number): string {
  if (max <= 1) return s.length <= max ? s : '…'.slice(0, max);
  return s.length <= max ? s : s.slice(0, max - 1) + '…';
}

function pad(cells: string[], widths: number[]): string {
  return cells
    .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
    .join('  ')
    .trimEnd();
}

export function renderStatus(rows: readonly TargetStatus[], view: StatusView): string {
  const now = view.now ?? Date.now();
  const width = Math.max(80, view.width);
  const table = rows.map((r) => {
    const key = `${r.cluster}/${r.host}`;
    const paused = view.paused?.get(key);
    const message =
      paused !== undefined ? `paused: ${paused}` : r.state === 'converged' ? '' : (currentError(r) ?? r.message ?? '');
    return {
      target: printable(key),
      state: paused !== undefined ? 'paused' : r.state,
      conditions: compactConditions(r.conditions),
      drift: String(r.drift),
      observed: ago(r.observedAt, now),
      action: printable(lastActionText(r.lastAction, r.lastActionAt, now)),
      message: printable(message),
      error: printable(currentError(r) ?? '-'),
      spec: r.specVersion ?? '-',
      next: r.nextAt === null ? '-' : ago(r.nextAt, now),
    };
  });
  if (view.wide) {
    const headers = [
      'TARGET',
      'STATE',
      'CONDITIONS',
      'DRIFT',
      'OBSERVED',
      'NEXT',
      'SPEC',
      'LAST ACTION',
      'LAST ERROR',
      'MESSAGE',
    ];
    const cells = table.map((t) => [
      t.target,
      t.state,
      t.conditions,
      t.drift,
      t.observed,
      t.next,
      t.spec,
      t.action,
      t.error,
      t.message === '' || t.message === t.error ? '-' : t.message,
    ]);
    const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? '').length)));
    return [pad(headers, widths), ...cells.map((c) => pad(c, widths))].join('\n') + '\n';
  }
  // Conditions in full are behind --conditions and -o wide; STATE says the gist.
  const headers = ['TARGET', 'STATE', 'DRIFT', 'OBSERVED', 'LAST ACTION', 'MESSAGE'];
  const fixed = table.map((t) => [t.target, t.state, t.drift, t.observed]);
  const widths = headers.slice(0, 4).map((h, i) => Math.max(h.length, ...fixed.map((c) => (c[i] ?? '').length)));
  // A very long target name still leaves room for the rest: the cluster part is cut, the host kept.
  const others = widths.slice(1).reduce((a, b) => a + b + 2, 0);
  widths[0] = Math.min(widths[0] ?? 6, 40, Math.max(16, width - others - 2 - 24));
  const used = widths.reduce((a, b) => a + b + 2, 0);
  const flexible = Math.max(20, width - used);
  const anyMessage = table.some((t) => t.message !== '');
  const actionNatural = Math.max('LAST ACTION'.length, ...table.map((t) => t.action.length));
  // The message (why a member is not converged) first; the last action gets the rest, at least its outcome and age.
  const messageNatural = Math.max(...table.map((t) => t.message.length));
  const actionWidth = anyMessage
    ? Math.min(actionNatural, Math.max(22, flexible - 2 - messageNatural))
    : Math.min(actionNatural, flexible);
  const messageWidth = Math.max(7, flexible - actionWidth - 2);
  const all = [...widths, actionWidth];
  const lines = [pad(anyMessage ? headers : headers.slice(0, 5), all)];
  for (const t of table) {
    const target = cutTarget(t.target, widths[0] ?? 40);
    lines.push(
      pad(
        [
          target,
          t.state,
          t.drift,
          t.observed,
          cut(t.action, actionWidth),
          ...(anyMessage ? [cut(t.message, messageWidth)] : []),
        ],
        all,
      ),
    );
  }
  return lines.join('\n') + '\n';
}

/** `cluster/host` in at most `max` characters: the host whole where it fits, the cluster cut (`orders-of-the-…/db1`). */
export function cutTarget(key: string, max: number): string {
  if (key.length <= max) return key;
  const slash = key.lastIndexOf('/');
  const host = key.slice(slash + 1);
  if (slash === -1 || host.length + 3 > max)
    return `${key.slice(0, Math.ceil((max - 1) / 2))}…${key.slice(key.length - Math.floor((max - 1) / 2))}`;
  return `${key.slice(0, max - host.length - 2)}…/${host}`;
}
