/**
 * postgres.setting: server settings through ALTER SYSTEM SET, then pg_reload_conf(). Each declared
 * setting is read three ways in one query: what runs (pg_settings), what is persisted
 * (pg_file_settings, the entry that wins), and whether a restart is pending. Values are compared in
 * the server's units: '1GB', '1024MB' and 131072 (8kB pages) are the same shared_buffers.
 *
 * A setting persisted but waiting for a restart is reported as pending a restart (a disruptive
 * change that waits: setpoint does not restart servers yet), never as a failure and never set again.
 */
import { restartChange } from '../host/index.js';
import { PHASE } from './phases.js';
import type { Change, Drift, Observation, ResourceKind } from '../../src/engine.js';
import { quoteIdent } from './quote.js';
import { isReset, type SettingDecl, type SettingValue } from './spec.js';
import type { PgContext, PgSession } from './session.js';

/** What normalization needs to know of a setting: pg_settings.vartype and unit. */
export interface SettingMeta {
  vartype: string;
  unit: string | null;
  /** For list settings: `quote` (elements are identifiers, quoted when they need it: search_path...) or `plain` (DateStyle...). */
  list?: 'quote' | 'plain';
}

/**
 * Settings the server parses as lists (GUC_LIST_INPUT), and those whose elements it quotes as
 * identifiers (GUC_LIST_QUOTE): `search_path = '"My Schema", public'` is two elements.
 */
export const LIST_SETTINGS: ReadonlyMap<string, 'quote' | 'plain'> = new Map([
  ...(
    [
      'search_path',
      'temp_tablespaces',
      'shared_preload_libraries',
      'local_preload_libraries',
      'session_preload_libraries',
    ] as const
  ).map((n) => [n, 'quote'] as const),
  ...(
    [
      'datestyle',
      'log_destination',
      'listen_addresses',
      'unix_socket_directories',
      'wal_consistency_checking',
      'createrole_self_grant',
      'debug_io_direct',
      'restrict_nonsystem_relation_kind',
    ] as const
  ).map((n) => [n, 'plain'] as const),
]);

/**
 * Splits a list setting as the server does: commas outside double quotes separate elements; a quoted
 * element keeps its case and spaces ("" is a quote); an unquoted one is trimmed and, for identifier
 * lists, folded to lower case. Undefined when the text is not a well-formed list.
 */
export function splitList(text: string, kind: 'quote' | 'plain'): string[] | undefined {
  const out: string[] = [];
  let i = 0;
  const skip = () => {
    while (i < text.length && /\s/.test(text[i] as string)) i++;
  };
  skip();
  if (i === text.length) return [];
  for (;;) {
    skip();
    let item = '';
    if (text[i] === '"') {
      for (i++; ; i++) {
        if (i >= text.length) return undefined;
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            item += '"';
            i++;
          } else break;
        } else item += text[i];
      }
      i++;
    } else {
      const start = i;
      while (i < text.length && text[i] !== ',' && !/\s/.test(text[i] as string)) i++;
      item = text.slice(start, i);
      if (item === '') return undefined;
      item = kind === 'quote' ? item.toLowerCase() : item;
    }
    out.push(kind === 'plain' ? item.toLowerCase() : item);
    skip();
    if (i === text.length) return out;
    if (text[i] !== ',') return undefined;
    i++;
  }
}

/** The elements a declared list value stands for: an array's elements are literal (one wrapped in "" is unquoted); a string is split as the server would. */
export function listElements(value: SettingValue, kind: 'quote' | 'plain'): string[] | undefined {
  if (!Array.isArray(value))
    return splitList(typeof value === 'boolean' ? (value ? 'on' : 'off') : String(value), kind);
  return value.map((v) => {
    const t = String(v).trim();
    const literal = /^".*"$/s.test(t) ? t.slice(1, -1).replace(/""/g, '"') : t;
    return kind === 'plain' ? literal.toLowerCase() : literal;
  });
}

/**
 * A number as PostgreSQL's parse_int/parse_real reads it (strtol with base 0 for integers: 0x1F is
 * hex and 017 octal), then an optional unit made of letters, with spaces allowed around it.
 * Undefined when anything else follows.
 */
function parseNumber(text: string, integer: boolean): { n: number; unit: string } | undefined {
  const t = text.replace(/^\s+/, '');
  let m: RegExpExecArray | null;
  let n: number;
  let rest: string;
  if (integer && (m = /^([-+]?)0[xX]([0-9a-fA-F]+)/.exec(t)) !== null) {
    n = (m[1] === '-' ? -1 : 1) * parseInt(m[2] as string, 16);
    rest = t.slice(m[0].length);
  } else if (integer && (m = /^([-+]?)(0\d*)(?![.eE])/.exec(t)) !== null) {
    // strtol reads the octal digits and stops at the first other one (08: 0, then "8" is left over).
    const octal = /^[0-7]*/.exec(m[2] as string)?.[0] ?? '0';
    n = (m[1] === '-' ? -1 : 1) * parseInt(octal, 8);
    rest = t.slice((m[1] as string).length + octal.length);
  } else if ((m = /^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?/.exec(t)) !== null) {
    n = Number(m[0]);
    rest = t.slice(m[0].length);
  } else return undefined;
  const u = /^\s*([A-Za-z]*)\s*$/.exec(rest);
  if (u === null || !Number.isFinite(n)) return undefined;
  return { n, unit: u[1] as string };
}

export interface SettingState {
  name: string;
  /** The configured value in force (pg_settings.reset_val), with its unit as people write it (16MB, 2s). */
  running: string;
  /**
   * What the server shows (pg_settings.setting), when it is not the configured value: a setting that
   * is configured but not in effect (archive_command shows `(disabled)` while archive_mode is off).
   */
  shown?: string;
  vartype: string;
  unit: string | null;
  context: string;
  source: string;
  /** The persisted value that wins (postgresql.auto.conf or postgresql.conf); null when no file sets it, undefined when it cannot be read. */
  file?: string | null;
  fileError?: string | null;
  /** What postgresql.auto.conf (ALTER SYSTEM) says: null when it does not set it; undefined when it cannot be read. */
  auto?: string | null;
  /** The value in force came from postgresql.auto.conf. */
  fromAuto?: boolean;
  pendingRestart: boolean;
}

const KIND = 'postgres.setting';

const MEMORY: Record<string, number> = { B: 1, kB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 };
const TIME: Record<string, number> = { us: 1, ms: 1000, s: 1e6, min: 60e6, h: 3600e6, d: 86400e6 };

/** A unit of pg_settings (8kB, 16MB, ms, s, min...) as a kind and a size in bytes or microseconds. */
export function parseUnit(unit: string): { kind: 'memory' | 'time'; factor: number } | undefined {
  const m = /^(\d+)?\s*([A-Za-z]+)$/.exec(unit.trim());
  if (m === null) return undefined;
  const n = m[1] === undefined ? 1 : Number(m[1]);
  const u = m[2] as string;
  if (Object.hasOwn(MEMORY, u)) return { kind: 'memory', factor: n * (MEMORY[u] as number) };
  if (Object.hasOwn(TIME, u)) return { kind: 'time', factor: n * (TIME[u] as number) };
  return undefined;
}

/** Round half to even, as PostgreSQL's rint() does when it converts units. */
function rint(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

const TRUE = ['on', 'true', 'yes', '1'];
const FALSE = ['off', 'false', 'no', '0'];

/** PostgreSQL's parse_bool: on/off, true/false, yes/no, 1/0, and unique prefixes of them. */
export function parseBool(v: string): boolean | undefined {
  const s = v.trim().toLowerCase();
  if (s === '') return undefined;
  if (
    TRUE.includes(s) ||
    (s.length >= 1 && ('true'.startsWith(s) || 'yes'.startsWith(s))) ||
    (s.length >= 2 && 'on'.startsWith(s) && s !== 'o')
  )
    return true;
  if (
    FALSE.includes(s) ||
    (s.length >= 1 && ('false'.startsWith(s) || 'no'.startsWith(s))) ||
    (s.length >= 2 && 'off'.startsWith(s))
  )
    return false;
  return undefined;
}

function listOf(v: string): string[] {
  return v
    .split(',')
    .map((x) => x.trim().replace(/^"(.*)"$/, '$1'))
    .filter((x) => x !== '');
}

/**
 * A value as the server would hold it, for comparison: numbers in the setting's own unit (PostgreSQL
 * rounds integers to the nearest unit), booleans as on/off, enums in lower case, lists without
 * spacing. Undefined when the value is not valid for the setting.
 */
export function normalizeSetting(value: SettingValue, meta: SettingMeta): string | undefined {
  if (meta.list !== undefined) {
    const items = listElements(value, meta.list);
    return items === undefined ? undefined : JSON.stringify(items);
  }
  if (Array.isArray(value)) return listOf(value.join(',')).join(',');
  const text = typeof value === 'boolean' ? (value ? 'on' : 'off') : String(value);
  switch (meta.vartype) {
    case 'bool': {
      const b = parseBool(text);
      return b === undefined ? undefined : b ? 'on' : 'off';
    }
    case 'enum':
      return text.trim().toLowerCase();
    case 'integer':
    case 'real': {
      const p = parseNumber(text, meta.vartype === 'integer');
      if (p === undefined) return undefined;
      let n = p.n;
      if (p.unit !== '') {
        const base = meta.unit === null ? undefined : parseUnit(meta.unit);
        const given = parseUnit(p.unit);
        // Units are case-sensitive (kB, MB, min...), and only units of the setting's kind are allowed.
        if (
          base === undefined ||
          given === undefined ||
          given.kind !== base.kind ||
          !(Object.hasOwn(MEMORY, p.unit) || Object.hasOwn(TIME, p.unit))
        )
          return undefined;
        n = (n * given.factor) / base.factor;
      }
      if (meta.vartype === 'integer') n = rint(n);
      return String(Number(n.toPrecision(15)));
    }
    default:
      return text.includes(',') && /^[\w".$-]+(\s*,\s*[\w".$-]+)+$/.test(text.trim()) ? listOf(text).join(',') : text;
  }
}

/** A value in base units shown with the largest unit that divides it (2048 of 8kB -> 16MB; 2000 ms -> 2s). */
export function humanize(setting: string, unit: string | null): string {
  const u = unit === null ? undefined : parseUnit(unit);
  const n = Number(setting);
  if (u === undefined || !Number.isFinite(n) || n <= 0 || !Number.isInteger(n)) return setting;
  const total = n * u.factor;
  const table = u.kind === 'memory' ? MEMORY : TIME;
  const names = Object.keys(table).sort((a, b) => (table[b] as number) - (table[a] as number));
  for (const name of names) {
    const f = table[name] as number;
    if (f >= u.factor && total % f === 0) return `${total / f}${name}`;
  }
  return `${setting}${unit === null ? '' : ` × ${unit}`}`;
}

/** The declared value as written in the file, for summaries. */
function shown(v: SettingDecl): string {
  if (isReset(v)) return '(default)';
  return Array.isArray(v) ? v.join(', ') : typeof v === 'boolean' ? (v ? 'on' : 'off') : String(v);
}

/** Sources whose running value is the session's own, not the server's: the running value says nothing then. */
const SESSION_SOURCES = new Set(['client', 'session', 'database', 'user', 'database user']);

/**
 * Settings the server shows as something else than their configured value while another setting
 * keeps them from acting: the value it shows then, the setting that decides, and what that one must be.
 */
export const NOT_IN_EFFECT: ReadonlyMap<
  string,
  { shows: string; because: string; needs: string; off: string; value: string }
> = new Map([
  [
    'archive_command',
    { shows: '(disabled)', because: 'archive_mode is off', needs: 'archive_mode', off: 'off', value: 'on' },
  ],
]);

/** What the settings observation learns beside the states: each running value in base units (the state shows it humanized). */
export interface SettingsExtra {
  raw: Map<string, string>;
  /** Settings read only because a declared one depends on them (archive_mode for archive_command). */
  others: Map<string, SettingState>;
}

/** A row of the settings query: one per declared name (w), with what pg_settings and pg_file_settings say. */
export interface SettingRow {
  w: string;
  n: string | null;
  /** pg_settings.setting: what the server shows. */
  v: string | null;
  /** pg_settings.reset_val: the configured value in force (the shown one when missing). */
  r?: string | null;
  u: string | null;
  t: string | null;
  c: string | null;
  s: string | null;
  p: boolean | null;
  file: string | null;
  ferr: string | null;
  /** The value postgresql.auto.conf sets (null: none). */
  auto?: string | null;
  /** The value in force came from postgresql.auto.conf. */
  sa?: boolean | null;
}

/**
 * The settings observation from the rows (pure); `superuser`: pg_file_settings could be read. Rows of
 * names outside `declared` (read because a declared setting depends on them) go to `extra.others`.
 */
export function settingsFrom(
  rows: SettingRow[],
  superuser: boolean,
  declared?: ReadonlySet<string>,
): Observation<SettingState, SettingsExtra> {
  const out = new Map<string, SettingState>();
  const others = new Map<string, SettingState>();
  const raw = new Map<string, string>();
  for (const r of rows) {
    if (r.n === null && r.file === null && (r.auto ?? null) === null) continue;
    const configured = r.r === undefined || r.r === null ? r.v : r.r;
    const state: SettingState = {
      name: r.w,
      running: configured === null ? '' : humanize(configured, r.u),
      ...(r.v !== null && configured !== null && r.v !== configured ? { shown: r.v } : {}),
      vartype: r.t ?? 'string',
      unit: r.u,
      context: r.c ?? 'user',
      source: r.s ?? 'default',
      ...(superuser
        ? {
            file: r.file,
            fileError: r.ferr,
            ...(r.auto === undefined ? {} : { auto: r.auto, fromAuto: r.sa === true }),
          }
        : {}),
      pendingRestart: r.p === true,
    };
    if (declared !== undefined && !declared.has(r.w)) {
      others.set(r.w, state);
      continue;
    }
    out.set(r.w, state);
    raw.set(r.w, configured ?? '');
  }
  return { items: out, extra: { raw, others } };
}

export const settings: ResourceKind<SettingDecl, SettingState, PgSession, PgContext, SettingsExtra> = {
  kind: KIND,

  desired(ctx) {
    const c = ctx.cluster;
    return new Map(Object.entries(c.settings).map(([k, v]) => [k.toLowerCase(), v]));
  },

  async observe(session, ctx) {
    const declared = new Set(this.desired(ctx).keys());
    if (declared.size === 0) return settingsFrom([], session.facts.superuser, declared);
    // Settings a declared one depends on are read too (archive_mode decides whether archive_command acts).
    const names = [...declared];
    for (const n of declared) {
      const dep = NOT_IN_EFFECT.get(n)?.needs;
      if (dep !== undefined && !declared.has(dep)) names.push(dep);
    }
    // pg_file_settings is readable by superusers only; others see the values in force alone.
    const from =
      'FROM unnest($1::text[]) AS w(name) LEFT JOIN pg_settings s ON lower(s.name) = w.name ' +
      "CROSS JOIN (SELECT current_setting('data_directory') || '/postgresql.auto.conf' AS path) a ";
    const file = session.facts.superuser
      ? 'f.setting AS file, f.error AS ferr, ' +
        '(SELECT x.setting FROM pg_file_settings x WHERE lower(x.name) = w.name AND x.sourcefile = a.path ORDER BY x.seqno DESC LIMIT 1) AS auto, ' +
        `coalesce(s.sourcefile = a.path, false) AS sa ${from}` +
        'LEFT JOIN LATERAL (SELECT x.setting, x.error FROM pg_file_settings x WHERE lower(x.name) = w.name ORDER BY x.seqno DESC LIMIT 1) f ON true'
      : `NULL::text AS file, NULL::text AS ferr ${from}`;
    const rows = await session.query<SettingRow>(
      `SELECT w.name AS w, s.name AS n, s.setting AS v, s.reset_val AS r, s.unit AS u, s.vartype AS t, s.context AS c, s.source AS s, s.pending_restart AS p, ${file}`,
      [names],
    );
    return settingsFrom(rows, session.facts.superuser, declared);
  },

  diff(desired, { items: observed, extra: { raw } }, ctx) {
    const facts = ctx.facts;
    const drift: Drift[] = [];
    for (const [name, value] of desired) {
      const o = observed.get(name);
      if (isReset(value)) {
        drift.push(...resetDrift(name, o));
        continue;
      }
      if (o === undefined) {
        drift.push({
          kind: KIND,
          id: name,
          field: name.includes('.') ? 'value' : 'unknown',
          desired: shown(value),
          observed: name.includes('.') ? '(not set)' : `PostgreSQL ${facts.version} has no such setting`,
        });
        continue;
      }
      const list = LIST_SETTINGS.get(name);
      const meta: SettingMeta = { vartype: o.vartype, unit: o.unit, ...(list === undefined ? {} : { list }) };
      const want = normalizeSetting(value, meta);
      if (want === undefined) {
        drift.push({
          kind: KIND,
          id: name,
          field: 'invalid',
          desired: shown(value),
          observed: `not a valid ${o.vartype}${o.unit === null ? '' : ` in units of ${o.unit}`}`,
        });
        continue;
      }
      if (o.context === 'internal') {
        drift.push({ kind: KIND, id: name, field: 'readonly', desired: shown(value), observed: o.running });
        continue;
      }
      // The configured value in force (reset_val), not what the server shows: archive_command shows
      // "(disabled)" while archive_mode is off, and comparing that would set it again at every pass.
      const running = normalizeSetting(raw.get(name) ?? o.running, meta);
      const runningKnown = !SESSION_SOURCES.has(o.source);
      const notInEffect = (): void => {
        const n = NOT_IN_EFFECT.get(name);
        if (n !== undefined && o.shown === n.shows)
          drift.push({
            kind: KIND,
            id: name,
            field: 'not_in_effect',
            desired: shown(value),
            observed: `configured, but not in effect: ${n.because} (the server shows ${n.shows})`,
          });
      };
      if (o.file === undefined) {
        if (runningKnown && running !== want)
          drift.push({ kind: KIND, id: name, field: 'value', desired: shown(value), observed: o.running });
        else notInEffect();
        continue;
      }
      const persisted = o.file === null ? undefined : normalizeSetting(o.file, meta);
      if (persisted !== want) {
        drift.push({
          kind: KIND,
          id: name,
          field: 'value',
          desired: shown(value),
          observed: o.file === null ? `${o.running} (not set in any file)` : o.file,
        });
      } else if (runningKnown && running !== want) {
        if (o.pendingRestart)
          drift.push({
            kind: KIND,
            id: name,
            field: 'pending_restart',
            desired: shown(value),
            observed: `${o.running} until the server restarts`,
          });
        else if (o.fileError !== null && o.fileError !== undefined && o.fileError !== 'setting could not be applied')
          drift.push({ kind: KIND, id: name, field: 'error', desired: shown(value), observed: o.fileError });
        else if (o.source === 'command line' || o.source === 'environment variable')
          drift.push({
            kind: KIND,
            id: name,
            field: 'overridden',
            desired: shown(value),
            observed: `${o.running} (from the ${o.source})`,
          });
        else
          drift.push({
            kind: KIND,
            id: name,
            field: 'running',
            desired: shown(value),
            observed: `${o.running} (not reloaded yet)`,
          });
      } else notInEffect();
    }
    return drift;
  },

  plan(drift, desired, { items: observed, extra: { others } }, ctx) {
    const changes: Change[] = [];
    const pending: string[] = [];
    for (const d of drift) {
      const value = desired.get(d.id);
      if (value === undefined) continue;
      const o = observed.get(d.id);
      const name = d.id.split('.').map(quoteIdent).join('.');
      const base = { kind: KIND, id: d.id, phase: PHASE.settings } as const;
      switch (d.field) {
        case 'value': {
          if (isReset(value)) {
            changes.push({
              ...base,
              action: 'reset',
              risk: 'safe',
              summary: `reset ${d.id} to its default with ALTER SYSTEM RESET and reload (postgresql.auto.conf sets ${String(d.observed)})`,
              statements: [{ sql: `ALTER SYSTEM RESET ${name}` }, { sql: 'SELECT pg_reload_conf()' }],
            });
            break;
          }
          // A list setting goes as its elements, each one literal (the server quotes them as it needs).
          const kind = LIST_SETTINGS.get(d.id);
          const list =
            (kind === undefined ? undefined : listElements(value, kind)) ??
            (Array.isArray(value) ? value : [typeof value === 'boolean' ? (value ? 'on' : 'off') : String(value)]);
          const restart = o?.context === 'postmaster' ? ' (takes effect at the next restart)' : '';
          changes.push({
            ...base,
            action: 'set',
            risk: 'safe',
            summary: `set ${d.id} to ${shown(value)} with ALTER SYSTEM and reload${restart}`,
            statements: [
              { sql: `ALTER SYSTEM SET ${name} = ${list.map((_, i) => `$${i + 1}`).join(', ')}`, params: list },
              { sql: 'SELECT pg_reload_conf()' },
            ],
          });
          break;
        }
        case 'running':
          changes.push({
            ...base,
            action: 'reload',
            risk: 'safe',
            summary: `reload the configuration: ${d.id} is persisted as ${shown(value)} but runs as ${o?.running ?? '?'}`,
            statements: [{ sql: 'SELECT pg_reload_conf()' }],
          });
          break;
        case 'pending_restart':
          pending.push(`${d.id} = ${shown(value)} (runs as ${o?.running ?? '?'})`);
          break;
        case 'not_in_effect': {
          const n = NOT_IN_EFFECT.get(d.id);
          const dep = n === undefined ? undefined : desired.get(n.needs);
          const depOn =
            n !== undefined &&
            dep !== undefined &&
            !isReset(dep) &&
            normalizeSetting(dep, {
              vartype: others.get(n.needs)?.vartype ?? observed.get(n.needs)?.vartype ?? 'enum',
              unit: null,
            }) !== n.off;
          changes.push({
            ...base,
            action: 'set',
            risk: 'safe',
            summary: `${d.id} is configured as ${shown(value)} but not in effect`,
            statements: [],
            at: ['settings', d.id],
            ...(depOn ? {} : { needsHuman: 'SettingNotInEffect' }),
            blocked:
              n === undefined
                ? String(d.observed)
                : depOn
                  ? `${n.because}: it takes effect once ${n.needs} = ${n.value} does (at the next restart)`
                  : `${n.because}, so ${d.id} does nothing (the server shows ${n.shows}): declare ${n.needs}: ${n.value} (it takes a restart) or leave ${d.id} out`,
          });
          break;
        }
        default:
          changes.push({
            ...base,
            action: 'set',
            risk: 'safe',
            summary: `set ${d.id} to ${shown(value)}`,
            statements: [],
            at: ['settings', d.id],
            ...(d.field === 'unknown' || d.field === 'invalid' || d.field === 'readonly' || d.field === 'unverifiable'
              ? { needsHuman: 'SettingRejected' }
              : {}),
            blocked:
              d.field === 'unknown'
                ? `the server has no setting ${d.id}`
                : d.field === 'invalid'
                  ? `${shown(value)} is not a valid value for ${d.id} (${String(d.observed)})`
                  : d.field === 'readonly'
                    ? `${d.id} is read-only (fixed when the server was built or initialised)`
                    : d.field === 'unverifiable'
                      ? String(d.observed)
                      : d.field === 'overridden'
                        ? `${d.id} is set on the server's ${o?.source ?? 'command line'}, which wins over ALTER SYSTEM`
                        : `the server rejects the persisted value of ${d.id}: ${String(d.observed)}`,
          });
      }
    }
    // One restart applies every setting pending one: a disruptive change, in maintenance windows only.
    if (pending.length > 0)
      changes.push(
        restartChange(ctx, {
          kind: KIND,
          id: `restart ${ctx.hostName}`,
          summary: `restart the server on ${ctx.hostName}: pending a restart for ${pending.join(', ')}`,
        }),
      );
    return changes;
  },
};

/**
 * `{ reset: true }`: converged when postgresql.auto.conf does not set the name and the value in force
 * no longer comes from it (reloaded; for a setting read at start only, after a restart).
 */
function resetDrift(name: string, o: SettingState | undefined): Drift[] {
  const base = { kind: KIND, id: name, desired: '(default)' } as const;
  if (o === undefined) return [];
  if (o.auto === undefined)
    return [
      {
        ...base,
        field: 'unverifiable',
        observed: `whether postgresql.auto.conf sets ${name} cannot be read without superuser (pg_file_settings)`,
      },
    ];
  if (o.auto !== null) return [{ ...base, field: 'value', observed: o.auto }];
  if (o.fromAuto !== true) return [];
  if (o.pendingRestart)
    return [{ ...base, field: 'pending_restart', observed: `${o.running} until the server restarts` }];
  return [{ ...base, field: 'running', observed: `${o.running} (not reloaded yet)` }];
}
