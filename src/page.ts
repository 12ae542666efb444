/**
 * The daemon's read-only status page (served at `/` by the loopback listener, src/metrics.ts): the fleet
 * as a grid of clusters x members coloured by condition, a timeline per target of drift, actions and
 * errors, and the replication topology of each cluster. Rendered on the server as one self-contained
 * HTML document (inline CSS and SVG, no script, no build step, nothing fetched from elsewhere); it
 * reloads itself every 10 s. `/fleet.json` serves the same data.
 */
import type { MemberTopology } from './engine.js';
import type { Entry, EntryKind, TargetStatus } from './history/store.js';
import type { Spec } from './spec/types.js';
import type { Condition } from './status.js';

/** What the page is made from: the history file's readers and the file in force. */
export interface FleetSource {
  history: {
    status(filter?: { cluster?: string; host?: string }): TargetStatus[];
    entries(f: { since?: number; kinds?: EntryKind[]; limit?: number }): Entry[];
    latestOfTarget(
      t: { cluster: string; host: string },
      kind: string,
    ): { resource: string; time: number; state: unknown }[];
  };
  /** The desired-state file in force (undefined before one is loaded). */
  spec(): Spec | undefined;
}

/** A cluster's topology as its cluster pass (`CLUSTER/*`) last recorded it. */
export interface ObservedTopology {
  time: number;
  primary?: string;
  degraded?: string;
  members: MemberTopology[];
}

/** The colour class of a target: the worst of its conditions. */
export type Health = 'stalled' | 'degraded' | 'progressing' | 'ready' | 'unknown';

export interface FleetTarget {
  cluster: string;
  host: string;
  health: Health;
  state: string;
  drift: number;
  waiting: number;
  message: string | null;
  observedAt: number | null;
  specVersion: string | null;
  lastError: string | null;
  conditions: Condition[];
  /** Drift, actions and errors of the window, oldest first. */
  timeline: { time: number; ended: number | null; kind: EntryKind; outcome: string | null; summary: string }[];
}

export interface FleetView {
  generatedAt: number;
  /** Where the timelines start: the oldest entry of the window (at most `hours` back, at least a minute). */
  since: number;
  specVersion: string | null;
  clusters: {
    name: string;
    engine: string | null;
    members: string[];
    /** The member the file names as primary, when the cluster declares replication. */
    declaredPrimary: string | null;
    targets: FleetTarget[];
    /** The cluster-level pass (`CLUSTER/*`), when the cluster has a topology. */
    clusterPass: FleetTarget | null;
    topology: ObservedTopology | null;
  }[];
}

/** The worst condition of a target, for its colour: Stalled, Degraded, Progressing, Ready, else unknown. */
export function healthOf(conditions: readonly Condition[], state: string): Health {
  const is = (t: Condition['type']) => conditions.some((c) => c.type === t && c.status === 'True');
  if (is('Stalled') || state === 'stalled') return 'stalled';
  if (is('Degraded')) return 'degraded';
  if (is('Progressing')) return 'progressing';
  if (is('Ready')) return 'ready';
  return 'unknown';
}

/**
 * Gathers the page's data (the last `hours`, 24 by default, at most `limit` entries, the newest
 * `perTarget` (300) marks per target): one status read, one read of the window's entries (index on time), and
 * each cluster pass's recorded topology (index on target and resource).
 */
export function fleetView(
  src: FleetSource,
  opts: { now?: number; hours?: number; limit?: number; perTarget?: number } = {},
): FleetView {
  const now = opts.now ?? Date.now();
  const since = now - (opts.hours ?? 24) * 3_600_000;
  const spec = src.spec();
  const rows = src.history.status();
  const recent = src.history.entries({ since, kinds: ['drift', 'action', 'error'], limit: opts.limit ?? 20_000 });
  // The timelines span the window's entries (at least a minute, at most the window), so a fleet that
  // started ten minutes ago does not show everything in the last pixel of a day.
  const first = recent.reduce((m, e) => Math.min(m, e.time), now);
  const shown = recent.length === 0 ? since : Math.max(since, Math.min(now - 60_000, first - (now - first) * 0.05));
  const byTarget = new Map<string, FleetTarget['timeline']>();
  for (const e of recent) {
    if (e.cluster === null || e.host === null) continue;
    const k = `${e.cluster}\0${e.host}`;
    let list = byTarget.get(k);
    if (list === undefined) byTarget.set(k, (list = []));
    list.push({ time: e.time, ended: e.ended, kind: e.kind, outcome: e.outcome, summary: e.summary });
  }
  const target = (r: TargetStatus): FleetTarget => ({
    cluster: r.cluster,
    host: r.host,
    health: healthOf(r.conditions, r.state),
    state: r.state,
    drift: r.drift,
    waiting: r.waiting,
    message: r.message,
    observedAt: r.observedAt,
    specVersion: r.specVersion,
    lastError: r.lastError,
    conditions: r.conditions,
    // The newest marks only: a busy target's day would otherwise make the page megabytes long.
    timeline: (byTarget.get(`${r.cluster}\0${r.host}`) ?? []).slice(-(opts.perTarget ?? 300)),
  });
  const names = new Set<string>([...Object.keys(spec?.clusters ?? {}), ...rows.map((r) => r.cluster)]);
  const clusters = [...names].sort().map((name) => {
    const declared = spec?.clusters[name];
    const mine = rows.filter((r) => r.cluster === name);
    const members = declared?.members ?? mine.filter((r) => r.host !== '*').map((r) => r.host);
    const pass = mine.find((r) => r.host === '*');
    const replication = declared?.replication as { primary?: unknown } | undefined;
    return {
      name,
      engine: declared?.engine ?? null,
      members,
      declaredPrimary: typeof replication?.primary === 'string' ? replication.primary : null,
      targets: members.map((m) =>
        target(
          mine.find((r) => r.host === m) ?? {
            cluster: name,
            host: m,
            specVersion: null,
            server: null,
            state: 'unknown',
            drift: 0,
            waiting: 0,
            message: 'not observed yet',
            observedAt: null,
            passAt: null,
            lastAction: null,
            lastActionAt: null,
            lastError: null,
            lastErrorAt: null,
            nextAt: null,
            conditions: [],
          },
        ),
      ),
      clusterPass: pass === undefined ? null : target(pass),
      topology: pass === undefined ? null : topologyOf(src, pass),
    };
  });
  const versions = rows.map((r) => r.specVersion).filter((v): v is string => v !== null);
  return { generatedAt: now, since: shown, specVersion: versions[0] ?? null, clusters };
}

function topologyOf(src: FleetSource, pass: TargetStatus): ObservedTopology | null {
  const members = src.history.latestOfTarget(pass, 'topology').map((o) => o.state as MemberTopology);
  if (members.length === 0) return null;
  const primary = members.find((m) => m.role === 'primary')?.member;
  const degraded = pass.conditions.find((c) => c.type === 'Degraded' && c.status === 'True')?.message;
  return {
    time: pass.observedAt ?? pass.passAt ?? 0,
    members,
    ...(primary === undefined ? {} : { primary }),
    ...(degraded === undefined ? {} : { degraded }),
  };
}

const ESC: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text made safe for HTML content and attribute values (names can hold anything). */
export function esc(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => ESC[c] ?? c);
}

/** The colours of the page: one per health, and per timeline mark. */
export const COLOURS = {
  ready: '#2da44e',
  progressing: '#2f81f7',
  degraded: '#e3811f',
  stalled: '#cf222e',
  unknown: '#8c959f',
  drift: '#e3b341',
  actionOk: '#1a7f37',
  actionFailed: '#cf222e',
  error: '#a40e26',
  primary: '#0550ae',
  replica: '#0a7f8c',
} as const;

const time = (t: number | null) => (t === null ? '-' : new Date(t).toISOString().replace('T', ' ').slice(0, 19));

function conditionsText(cs: readonly Condition[]): string {
  return cs.map((c) => `${c.type}=${c.status} (${c.reason}) ${c.message}`).join('\n');
}

function cell(t: FleetTarget): string {
  const title = [
    `${t.cluster}/${t.host}: ${t.state}`,
    conditionsText(t.conditions),
    t.message ?? '',
    t.lastError === null ? '' : `last error: ${t.lastError}`,
  ]
    .filter((s) => s !== '')
    .join('\n');
  return `<td class="cell ${t.health}" data-target="${esc(`${t.cluster}/${t.host}`)}" data-health="${t.health}" title="${esc(title)}">
<div class="host">${esc(t.host === '*' ? 'topology' : t.host)}</div>
<div class="sub">${esc(t.health)} · ${esc(t.state)}${t.drift > 0 ? ` · ${t.drift} drift` : ''}${t.waiting > 0 ? ` · ${t.waiting} waiting` : ''}</div>
<div class="sub">seen ${esc(time(t.observedAt))}</div></td>`;
}

const TL_W = 720;
const TL_H = 26;

function timeline(t: FleetTarget, since: number, now: number): string {
  const x = (ms: number) => Math.max(0, Math.min(TL_W, ((ms - since) / (now - since)) * TL_W));
  const marks: string[] = [];
  for (const e of t.timeline) {
    const title = `<title>${esc(`${time(e.time)} ${e.kind} ${e.outcome ?? ''}: ${e.summary}`)}</title>`;
    if (e.kind === 'drift') {
      const x0 = x(e.time);
      const x1 = Math.max(x0 + 3, x(e.ended ?? now));
      marks.push(
        `<rect class="mark drift" x="${x0.toFixed(1)}" y="4" width="${(x1 - x0).toFixed(1)}" height="8" fill="${COLOURS.drift}">${title}</rect>`,
      );
    } else if (e.kind === 'action') {
      const ok = e.outcome === 'ok' || e.outcome === 'running';
      marks.push(
        `<circle class="mark action ${ok ? 'ok' : 'failed'}" cx="${x(e.time).toFixed(1)}" cy="19" r="4" fill="${ok ? COLOURS.actionOk : COLOURS.actionFailed}">${title}</circle>`,
      );
    } else {
      const xe = x(e.time);
      marks.push(
        `<rect class="mark error" x="${(xe - 2).toFixed(1)}" y="1" width="4" height="24" fill="${COLOURS.error}">${title}</rect>`,
      );
    }
  }
  return `<tr><th class="tl-name">${esc(`${t.cluster}/${t.host}`)}</th><td><svg class="timeline" data-target="${esc(`${t.cluster}/${t.host}`)}" width="${TL_W}" height="${TL_H}" viewBox="0 0 ${TL_W} ${TL_H}" role="img" aria-label="${esc(`timeline of ${t.cluster}/${t.host}: ${t.timeline.length} entries`)}">
<rect x="0" y="0" width="${TL_W}" height="${TL_H}" fill="#f6f8fa"/><line x1="0" y1="${TL_H - 0.5}" x2="${TL_W}" y2="${TL_H - 0.5}" stroke="#d0d7de"/>
${marks.join('\n')}</svg></td><td class="count">${t.timeline.length}</td></tr>`;
}

function topologySvg(c: FleetView['clusters'][number]): string {
  const topo = c.topology;
  const members = c.members;
  const w = Math.max(260, members.length * 150);
  const h = 130;
  const roleOf = (m: string): MemberTopology | undefined => topo?.members.find((x) => x.member === m);
  const primary = topo?.primary ?? c.declaredPrimary ?? undefined;
  const pos = new Map<string, { x: number; y: number }>();
  const replicas = members.filter((m) => m !== primary);
  if (primary !== undefined && members.includes(primary)) pos.set(primary, { x: w / 2, y: 28 });
  const row = primary !== undefined && members.includes(primary) ? replicas : members;
  row.forEach((m, i) => pos.set(m, { x: ((i + 0.5) * w) / row.length, y: primary !== undefined ? 100 : 64 }));
  const parts: string[] = [];
  for (const m of members) {
    const t = roleOf(m);
    const source = t?.source ?? (primary !== undefined && m !== primary && c.declaredPrimary !== null ? primary : null);
    const from = source === null ? undefined : pos.get(source);
    const to = pos.get(m);
    if (from === undefined || to === undefined) continue;
    const ok = t?.replicating !== false;
    const lag =
      t?.lagSeconds !== null && t?.lagSeconds !== undefined
        ? `${t.lagSeconds}s`
        : t?.lagBytes !== null && t?.lagBytes !== undefined
          ? `${t.lagBytes}B`
          : '';
    parts.push(
      `<line class="edge ${ok ? 'ok' : 'broken'}" x1="${from.x}" y1="${from.y + 12}" x2="${to.x}" y2="${to.y - 12}" stroke="${ok ? '#57606a' : COLOURS.stalled}" stroke-width="2"${ok ? '' : ' stroke-dasharray="5 4"'} marker-end="url(#arrow)"><title>${esc(`${m} replicates from ${source ?? ''}${ok ? '' : ': NOT replicating'}${lag === '' ? '' : `, lag ${lag}`}`)}</title></line>`,
    );
    if (lag !== '')
      parts.push(
        `<text x="${((from.x + to.x) / 2 + 6).toFixed(1)}" y="${((from.y + to.y) / 2).toFixed(1)}" class="lag">${esc(lag)}</text>`,
      );
  }
  for (const m of members) {
    const p = pos.get(m);
    if (p === undefined) continue;
    const t = roleOf(m);
    const role = t?.role ?? (m === primary ? 'primary' : c.declaredPrimary === null ? 'standalone' : 'unknown');
    const fill =
      role === 'primary'
        ? COLOURS.primary
        : role === 'replica'
          ? COLOURS.replica
          : role === 'standalone'
            ? '#6e7781'
            : COLOURS.unknown;
    parts.push(
      `<g class="node" data-member="${esc(m)}" data-role="${esc(role)}"><rect x="${p.x - 60}" y="${p.y - 12}" width="120" height="24" rx="5" fill="${fill}"/><text x="${p.x}" y="${p.y + 4}" text-anchor="middle" class="node-label">${esc(m)}</text><title>${esc(`${m}: ${role}${t?.writable === true ? ', writable' : t?.writable === false ? ', read-only' : ''}${t?.position ? `, at ${t.position}` : ''}`)}</title></g>`,
    );
  }
  const note =
    topo === null
      ? c.declaredPrimary === null
        ? 'no replication declared: each member is managed on its own'
        : 'replication declared, not observed yet'
      : `observed ${time(topo.time)}${topo.degraded === undefined ? '' : ` — ${topo.degraded}`}`;
  return `<figure class="topology" data-cluster="${esc(c.name)}"><figcaption>${esc(c.name)}${c.engine === null ? '' : ` (${esc(c.engine)})`}: ${esc(note)}</figcaption>
<svg width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="img" aria-label="${esc(`topology of ${c.name}`)}"><defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#57606a"/></marker></defs>
${parts.join('\n')}</svg></figure>`;
}

function span(ms: number): string {
  if (ms < 3_600_000) return `${Math.max(1, Math.round(ms / 60_000))} min`;
  return `${(ms / 3_600_000).toFixed(ms < 36_000_000 ? 1 : 0)} h`;
}

/** The whole page, one HTML document. */
export function renderPage(v: FleetView): string {
  const width = Math.max(1, ...v.clusters.map((c) => c.targets.length + (c.clusterPass === null ? 0 : 1)));
  const grid = v.clusters
    .map((c) => {
      const cells = [...(c.clusterPass === null ? [] : [c.clusterPass]), ...c.targets].map(cell);
      while (cells.length < width) cells.push('<td class="empty"></td>');
      return `<tr data-cluster="${esc(c.name)}"><th>${esc(c.name)}<div class="sub">${esc(c.engine ?? '')}</div></th>${cells.join('')}</tr>`;
    })
    .join('\n');
  const timelines = v.clusters
    .flatMap((c) => [...(c.clusterPass === null ? [] : [c.clusterPass]), ...c.targets])
    .map((t) => timeline(t, v.since, v.generatedAt))
    .join('\n');
  const legend = (['ready', 'progressing', 'degraded', 'stalled', 'unknown'] as const)
    .map((h) => `<span class="key"><i style="background:${COLOURS[h]}"></i>${h}</span>`)
    .join(' ');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="10">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>setpoint: fleet</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 16px 24px; color: #1f2328; background: #fff; }
h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 24px 0 8px; }
.meta, .sub { color: #59636e; font-size: 12px; }
table.grid { border-collapse: separate; border-spacing: 6px; }
table.grid th { text-align: left; padding-right: 8px; vertical-align: middle; }
td.cell { min-width: 130px; padding: 8px 10px; border-radius: 6px; color: #fff; vertical-align: top; }
td.cell .sub { color: rgba(255,255,255,.9); }
td.cell .host { font-weight: 600; }
td.ready { background: ${COLOURS.ready}; } td.progressing { background: ${COLOURS.progressing}; }
td.degraded { background: ${COLOURS.degraded}; } td.stalled { background: ${COLOURS.stalled}; }
td.unknown { background: ${COLOURS.unknown}; }
.key { margin-right: 10px; font-size: 12px; } .key i { display: inline-block; width: 12px; height: 12px; border-radius: 2px; margin-right: 4px; vertical-align: -2px; }
table.timelines th.tl-name { text-align: right; font-weight: 500; padding-right: 8px; white-space: nowrap; }
table.timelines td.count { color: #59636e; font-size: 12px; padding-left: 6px; }
figure.topology { display: inline-block; margin: 0 24px 16px 0; vertical-align: top; }
figcaption { font-size: 13px; margin-bottom: 4px; }
.node-label { fill: #fff; font-size: 12px; font-weight: 600; } .lag { font-size: 11px; fill: #59636e; }
</style></head>
<body>
<h1>setpoint: the fleet</h1>
<div class="meta">at ${esc(time(v.generatedAt))} UTC · file version ${esc(v.specVersion ?? '-')} · read-only, reloads every 10 s · <a href="/fleet.json">fleet.json</a> · <a href="/metrics">metrics</a></div>
<h2>Clusters × members</h2>
<div>${legend}</div>
${v.clusters.length === 0 ? '<p class="none">No clusters yet.</p>' : `<table class="grid">${grid}</table>`}
<h2>Timeline: since ${esc(time(v.since))} UTC (${esc(span(v.generatedAt - v.since))})</h2>
<div class="legend"><span class="key"><i style="background:${COLOURS.drift}"></i>drift (open to resolved)</span> <span class="key"><i style="background:${COLOURS.actionOk};border-radius:6px"></i>action ok</span> <span class="key"><i style="background:${COLOURS.actionFailed};border-radius:6px"></i>action failed</span> <span class="key"><i style="background:${COLOURS.error}"></i>error</span></div>
<table class="timelines">${timelines}</table>
<h2>Topology</h2>
${v.clusters.map(topologySvg).join('\n')}
</body></html>
`;
}
