/**
 * mysql.variable: server settings. Dynamic ones are set at once (MariaDB: SET GLOBAL, and written to
 * the config fragment so they survive a restart; MySQL 8: SET PERSIST). Static ones go to the fragment
 * (MySQL 8: SET PERSIST_ONLY) and take effect with a restart: a disruptive change, maintenance windows only.
 */
import { PHASE } from './phases.js';
import { itemsOnly, type Change, type Drift, type ResourceKind } from '../../src/engine.js';
import { fileKind, restartChange, type FileWant } from '../host/index.js';
import { quoteIdent } from './quote.js';
import { atLeast, type Flavor, type MysqlContext, type MysqlSession } from './session.js';

export type SettingValue = string | number | boolean;

export interface VariableWant {
  name: string;
  value: SettingValue;
}

export interface VariableState {
  name: string;
  value: string;
  readOnly: boolean;
  /** MySQL 8: the value SET PERSIST / PERSIST_ONLY stored, if any. */
  persisted: string | null;
  /** What the server accepts for it, where it says (MariaDB's information_schema.SYSTEM_VARIABLES). */
  accepts?: VariableMeta;
}

/** A variable's type and bounds as the server lists them. */
export interface VariableMeta {
  /** INT, BIGINT UNSIGNED, DOUBLE, BOOLEAN, ENUM, SET, FLAGSET, VARCHAR... */
  type: string;
  min: string | null;
  max: string | null;
  /** The server rounds numbers down to a multiple of this. */
  block: string | null;
  /** ENUM, SET, FLAGSET and BOOLEAN: the names allowed. */
  values: string[] | null;
  /** The server's default value, where it lists it (a flag list's `flag=default` means this). */
  defaults?: string | null;
}

const KIND = 'mysql.variable';

/** Static variables of MySQL 8 (no read-only flag in its catalogs): they need PERSIST_ONLY and a restart. */
const MYSQL_STATIC = new Set([
  'innodb_buffer_pool_instances',
  'innodb_log_file_size',
  'innodb_log_files_in_group',
  'innodb_page_size',
  'innodb_data_file_path',
  'innodb_log_buffer_size',
  'innodb_read_io_threads',
  'innodb_write_io_threads',
  'innodb_doublewrite',
  'innodb_flush_method',
  'innodb_open_files',
  'innodb_undo_directory',
  'innodb_temp_data_file_path',
  'lower_case_table_names',
  'log_bin',
  'log_bin_basename',
  'server_id_bits',
  'skip_name_resolve',
  'bind_address',
  'port',
  'socket',
  'datadir',
  'tmpdir',
  'performance_schema',
  'back_log',
  'thread_stack',
  'table_open_cache_instances',
  'open_files_limit',
  'relay_log',
  'gtid_mode_on_startup',
  'character_set_system',
  'innodb_buffer_pool_chunk_size',
  'innodb_autoinc_lock_mode',
  'innodb_sort_buffer_size',
  'ft_min_word_len',
  'ft_max_word_len',
  'max_digest_length',
  'thread_handling',
  'innodb_ft_min_token_size',
  'innodb_ft_max_token_size',
  'performance_schema_max_sql_text_length',
  'innodb_numa_interleave',
  'large_pages',
  'lower_case_file_system',
  'skip_networking',
  'admin_port',
  'mysqlx_port',
]);

const SIZE = /^(\d+(?:\.\d+)?)\s*([KMGTPE])i?B?$/i;
const UNITS: Record<string, number> = { K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40, P: 2 ** 50, E: 2 ** 60 };
const TRUE = new Set(['on', 'true', 'yes', '1']);
const FALSE = new Set(['off', 'false', 'no', '0']);

/**
 * How the server reads a variable whose value is a list: `set` (sql_mode, log_output: names in any
 * order, the server sorts them and drops repeats), `flagset` (optimizer_switch: `name=on|off`, where
 * only the named flags change).
 */
export type ListKind = 'set' | 'flagset';

/** Set-valued variables, for servers whose catalogs do not give a variable's type (MySQL). */
const SET_VARIABLES = new Set([
  'sql_mode',
  'log_output',
  'slave_type_conversions',
  'replica_type_conversions',
  'old_mode',
  'log_slow_filter',
  'log_slow_verbosity',
  'log_slow_disabled_statements',
  'log_disabled_statements',
  'myisam_recover_options',
  'aria_recover_options',
  'default_regex_flags',
  'note_verbosity',
]);
/** Flag-list variables, for servers whose catalogs do not give a variable's type (MySQL). */
const FLAGSET_VARIABLES = new Set(['optimizer_switch', 'optimizer_trace', 'optimizer_trace_features']);

/** Whether a variable's value is a set or a flag list; the server's own catalog decides where it has one. */
export function listKind(name: string, meta?: VariableMeta): ListKind | undefined {
  const t = meta?.type.toUpperCase();
  if (t === 'SET') return 'set';
  if (t === 'FLAGSET') return 'flagset';
  if (t !== undefined) return undefined;
  const n = name.toLowerCase();
  if (FLAGSET_VARIABLES.has(n)) return 'flagset';
  if (SET_VARIABLES.has(n)) return 'set';
  return undefined;
}

/**
 * sql_mode's combination modes and what the server adds for each (observed on MariaDB 10.11 with
 * `SET sql_mode = 'X'; SELECT @@sql_mode`: the combination's own name stays in the list, it is a mode
 * of its own). MySQL 8 kept ANSI and TRADITIONAL only, and dropped NO_AUTO_CREATE_USER.
 */
const SQL_MODE_COMBINATIONS: Record<'mariadb' | 'mysql57' | 'mysql8', Record<string, string[]>> = (() => {
  const ansiLike = [
    'PIPES_AS_CONCAT',
    'ANSI_QUOTES',
    'IGNORE_SPACE',
    'NO_KEY_OPTIONS',
    'NO_TABLE_OPTIONS',
    'NO_FIELD_OPTIONS',
  ];
  const strict = [
    'STRICT_TRANS_TABLES',
    'STRICT_ALL_TABLES',
    'NO_ZERO_IN_DATE',
    'NO_ZERO_DATE',
    'ERROR_FOR_DIVISION_BY_ZERO',
  ];
  const old = {
    DB2: ansiLike,
    MAXDB: [...ansiLike, 'NO_AUTO_CREATE_USER'],
    MSSQL: ansiLike,
    MYSQL323: ['HIGH_NOT_PRECEDENCE'],
    MYSQL40: ['HIGH_NOT_PRECEDENCE'],
    POSTGRESQL: ansiLike,
  };
  return {
    mariadb: {
      ...old,
      ANSI: ['REAL_AS_FLOAT', 'PIPES_AS_CONCAT', 'ANSI_QUOTES', 'IGNORE_SPACE'],
      ORACLE: [...ansiLike, 'NO_AUTO_CREATE_USER', 'SIMULTANEOUS_ASSIGNMENT'],
      TRADITIONAL: [...strict, 'NO_AUTO_CREATE_USER', 'NO_ENGINE_SUBSTITUTION'],
    },
    mysql57: {
      ...old,
      ANSI: ['REAL_AS_FLOAT', 'PIPES_AS_CONCAT', 'ANSI_QUOTES', 'IGNORE_SPACE', 'ONLY_FULL_GROUP_BY'],
      ORACLE: [...ansiLike, 'NO_AUTO_CREATE_USER'],
      TRADITIONAL: [...strict, 'NO_AUTO_CREATE_USER', 'NO_ENGINE_SUBSTITUTION'],
    },
    mysql8: {
      ANSI: ['REAL_AS_FLOAT', 'PIPES_AS_CONCAT', 'ANSI_QUOTES', 'IGNORE_SPACE', 'ONLY_FULL_GROUP_BY'],
      TRADITIONAL: [...strict, 'NO_ENGINE_SUBSTITUTION'],
    },
  };
})();

/**
 * The members of a set-valued value as the server means them: names in any case and order, repeats
 * dropped, and for sql_mode each combination mode (ANSI, TRADITIONAL...) with the modes it turns on.
 */
export function setMembers(text: string, name: string, flavor: Flavor): Set<string> {
  const out = new Set<string>();
  const combos =
    name.toLowerCase() !== 'sql_mode'
      ? {}
      : SQL_MODE_COMBINATIONS[flavor.kind === 'mariadb' ? 'mariadb' : atLeast(flavor, 8, 0) ? 'mysql8' : 'mysql57'];
  for (const raw of text.split(',')) {
    const m = raw.trim().toUpperCase();
    if (m === '') continue;
    out.add(m);
    for (const x of combos[m] ?? []) out.add(x);
  }
  return out;
}

/** A flag list (`a=on,b=off`) as a map of lower-case flag names; `default` alone is the key `default`. */
export function flagMap(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of text.split(',')) {
    const x = raw.trim().toLowerCase();
    if (x === '') continue;
    const eq = x.indexOf('=');
    if (eq < 0) out.set(x, '');
    else out.set(x.slice(0, eq).trim(), x.slice(eq + 1).trim());
  }
  return out;
}

/** What a list-valued variable is compared as: its kind, its name, the flavor and (flag lists) its default. */
export interface ListValue {
  kind: ListKind;
  name: string;
  flavor: Flavor;
  /** The variable's default value, where the server lists it (MariaDB): what `flag=default` means. */
  defaults?: string | null;
}

/** Whether a declared list value and the server's agree as sets (or, for flag lists, on every named flag). */
function sameList(declared: string, observed: string, how: ListValue): boolean {
  if (how.kind === 'set') {
    const d = setMembers(declared, how.name, how.flavor);
    const o = setMembers(observed, how.name, how.flavor);
    return d.size === o.size && [...d].every((x) => o.has(x));
  }
  const d = flagMap(declared);
  const o = flagMap(observed);
  const dflt = how.defaults === undefined || how.defaults === null ? undefined : flagMap(how.defaults);
  // `default` alone resets every flag: the server's default value (unknown where it is not listed: not compared).
  const resetAll = d.has('default') && d.get('default') === '';
  const expect = new Map<string, string>();
  if (resetAll && dflt !== undefined) for (const [k, v] of dflt) expect.set(k, v);
  for (const [k, v] of d) {
    if (k === 'default' && v === '') continue;
    if (v === 'default') {
      const dv = dflt?.get(k);
      if (dv !== undefined) expect.set(k, dv);
      continue;
    }
    expect.set(k, v);
  }
  for (const [k, v] of expect) if (o.get(k) !== v) return false;
  return true;
}

/** A declared value as the server takes it: sizes in bytes, booleans as ON/OFF, numbers as numbers; lists trimmed. */
export function serverValue(v: SettingValue, list?: ListKind): string | number {
  if (typeof v === 'boolean') return v ? 'ON' : 'OFF';
  if (typeof v === 'number') return list === undefined ? v : String(v);
  if (list !== undefined)
    return v
      .split(',')
      .map((x) => x.trim())
      .filter((x) => x !== '')
      .join(',');
  const m = SIZE.exec(v.trim());
  if (m !== null) return Math.round(Number(m[1]) * (UNITS[(m[2] as string).toUpperCase()] ?? 1));
  if (/^-?\d+(\.\d+)?$/.test(v.trim())) return Number(v.trim());
  return v;
}

/**
 * Compares a declared value with what the server reports, in the server's terms. A list-valued
 * variable (`list`) is compared as the server means it: sql_mode as a set with its combination modes
 * expanded, optimizer_switch flag by flag.
 */
export function sameValue(declared: SettingValue, observed: string, list?: ListValue): boolean {
  const o = observed.trim();
  if (list !== undefined && typeof declared === 'string') return sameList(declared, o, list);
  if (
    typeof declared === 'boolean' ||
    TRUE.has(String(declared).toLowerCase()) ||
    FALSE.has(String(declared).toLowerCase())
  ) {
    const d = typeof declared === 'boolean' ? declared : TRUE.has(String(declared).toLowerCase());
    if (TRUE.has(o.toLowerCase())) return d;
    if (FALSE.has(o.toLowerCase())) return !d;
  }
  const sv = serverValue(declared);
  if (typeof sv === 'number' && o !== '' && Number.isFinite(Number(o))) {
    const n = Number(o);
    return Math.abs(n - sv) <= Math.abs(sv) * 1e-9;
  }
  return String(sv).toLowerCase() === o.toLowerCase();
}

/** How a variable's value is compared: as a list when the server (or, lacking a catalog, setpoint) says it is one. */
export function listOf(have: VariableState, flavor: Flavor): ListValue | undefined {
  const kind = listKind(have.name, have.accepts);
  if (kind === undefined) return undefined;
  return { kind, name: have.name, flavor, defaults: have.accepts?.defaults ?? null };
}

function flavorOf(ctx: MysqlContext): Flavor {
  return ctx.facts.flavor;
}

function persists(f: Flavor): boolean {
  return f.kind === 'mysql' && atLeast(f, 8, 0);
}

export const variables: ResourceKind<VariableWant, VariableState, MysqlSession, MysqlContext> = {
  kind: KIND,

  desired(ctx) {
    const c = ctx.cluster;
    return new Map(
      Object.entries(c.settings).map(([name, value]) => [name.toLowerCase(), { name: name.toLowerCase(), value }]),
    );
  },

  async observe(session, ctx) {
    const names = [...this.desired(ctx).keys()];
    const out = new Map<string, VariableState>();
    if (names.length === 0) return itemsOnly(out);
    const marks = names.map(() => '?').join(', ');
    if (session.flavor.kind === 'mariadb') {
      const rows = await session.query<{
        n: string;
        v: string | null;
        ro: string;
        t: string;
        lo: string | null;
        hi: string | null;
        b: string | null;
        e: string | null;
        dv: string | null;
      }>(
        'SELECT LOWER(VARIABLE_NAME) AS n, GLOBAL_VALUE AS v, READ_ONLY AS ro, VARIABLE_TYPE AS t, NUMERIC_MIN_VALUE AS lo, NUMERIC_MAX_VALUE AS hi, ' +
          `NUMERIC_BLOCK_SIZE AS b, ENUM_VALUE_LIST AS e, DEFAULT_VALUE AS dv FROM information_schema.SYSTEM_VARIABLES WHERE VARIABLE_NAME IN (${marks})`,
        names.map((n) => n.toUpperCase()),
      );
      for (const r of rows) {
        const accepts: VariableMeta = {
          type: r.t,
          min: r.lo === null ? null : String(r.lo),
          max: r.hi === null ? null : String(r.hi),
          block: r.b === null ? null : String(r.b),
          values: r.e === null ? null : r.e.split(','),
          ...(r.t === 'FLAGSET' ? { defaults: r.dv } : {}),
        };
        out.set(r.n, { name: r.n, value: r.v ?? '', readOnly: r.ro === 'YES', persisted: null, accepts });
      }
      return itemsOnly(out);
    }
    const rows = await session.query<{ n: string; v: string | null }>(
      `SELECT LOWER(VARIABLE_NAME) AS n, VARIABLE_VALUE AS v FROM performance_schema.global_variables WHERE VARIABLE_NAME IN (${marks})`,
      names,
    );
    const persisted = new Map<string, string>();
    if (persists(session.flavor)) {
      const p = await session.query<{ n: string; v: string }>(
        `SELECT LOWER(VARIABLE_NAME) AS n, VARIABLE_VALUE AS v FROM performance_schema.persisted_variables WHERE VARIABLE_NAME IN (${marks})`,
        names,
      );
      for (const r of p) persisted.set(r.n, r.v);
    }
    for (const r of rows)
      out.set(r.n, {
        name: r.n,
        value: r.v ?? '',
        readOnly: MYSQL_STATIC.has(r.n),
        persisted: persisted.get(r.n) ?? null,
      });
    return itemsOnly(out);
  },

  diff(desired, { items: observed }, ctx) {
    const drift: Drift[] = [];
    const f = flavorOf(ctx);
    for (const [id, want] of desired) {
      const have = observed.get(id);
      if (have === undefined) {
        drift.push({ kind: KIND, id, field: 'present', desired: want.value, observed: null });
        continue;
      }
      const refused = have.accepts === undefined ? undefined : refusal(want.value, have.accepts);
      if (refused !== undefined)
        drift.push({ kind: KIND, id, field: 'invalid', desired: want.value, observed: refused });
      else if (!sameValue(want.value, have.value, listOf(have, f)))
        drift.push({ kind: KIND, id, field: 'value', desired: want.value, observed: have.value });
      else if (persists(f) && (have.persisted === null || !sameValue(want.value, have.persisted, listOf(have, f)))) {
        drift.push({ kind: KIND, id, field: 'persisted', desired: want.value, observed: have.persisted });
      }
    }
    return drift;
  },

  plan(drift, desired, { items: observed }, ctx) {
    const f = flavorOf(ctx);
    const c = ctx.cluster;
    const changes: Change[] = [];
    const needRestart: string[] = [];
    for (const d of drift) {
      const want = desired.get(d.id);
      const have = observed.get(d.id);
      if (want === undefined) continue;
      const shown = `${want.name} = ${String(want.value)}`;
      if (have === undefined || d.field === 'invalid') {
        changes.push({
          kind: KIND,
          id: d.id,
          action: 'set',
          risk: 'safe',
          phase: PHASE.settings,
          summary: `set ${shown}`,
          statements: [],
          at: ['settings', want.name],
          blocked:
            have === undefined
              ? `the server has no variable ${want.name}: left out of the config file (a server refuses to start on an unknown variable)`
              : `${String(d.observed)}: left out of the config file`,
          needsHuman: 'SettingRejected',
        });
        continue;
      }
      if (persists(f)) {
        if (!have.readOnly) {
          changes.push({
            kind: KIND,
            id: d.id,
            action: 'set',
            risk: 'safe',
            phase: PHASE.settings,
            summary: `set ${shown} (SET PERSIST)`,
            statements: [
              {
                sql: `SET PERSIST ${quoteIdent(want.name)} = ?`,
                params: [serverValue(want.value, listOf(have, f)?.kind)],
              },
            ],
          });
        } else if (have.persisted === null || !sameValue(want.value, have.persisted, listOf(have, f))) {
          changes.push({
            kind: KIND,
            id: d.id,
            action: 'set',
            risk: 'safe',
            phase: PHASE.settings,
            summary: `persist ${shown} for the next restart (SET PERSIST_ONLY)`,
            statements: [
              {
                sql: `SET PERSIST_ONLY ${quoteIdent(want.name)} = ?`,
                params: [serverValue(want.value, listOf(have, f)?.kind)],
              },
            ],
          });
        } else needRestart.push(shown);
        continue;
      }
      if (!have.readOnly) {
        const keep = c.configFile === undefined ? '; declare configFile to keep it across restarts' : '';
        changes.push({
          kind: KIND,
          id: d.id,
          action: 'set',
          risk: 'safe',
          phase: PHASE.settings,
          summary: `set ${shown} (SET GLOBAL${keep})`,
          statements: [
            {
              sql: `SET GLOBAL ${quoteIdent(want.name)} = ?`,
              params: [serverValue(want.value, listOf(have, f)?.kind)],
            },
          ],
        });
      } else if (c.configFile === undefined) {
        changes.push({
          kind: KIND,
          id: d.id,
          action: 'set',
          risk: 'disruptive',
          phase: PHASE.restart,
          summary: `set ${shown} (static: needs the config file and a restart)`,
          statements: [],
          blocked: `${want.name} is static: declare configFile so the setting can be written there and applied by a restart`,
        });
      } else needRestart.push(shown);
    }
    if (needRestart.length > 0) {
      changes.push(
        restartChange(ctx, {
          kind: KIND,
          id: `restart ${ctx.hostName}`,
          summary: `restart the server on ${ctx.hostName} to apply ${needRestart.join(', ')}`,
        }),
      );
    }
    return changes;
  },
};

/** Why the server would refuse a value for a variable (its type, bounds or names), or undefined. */
export function refusal(declared: SettingValue, m: VariableMeta): string | undefined {
  const text = typeof declared === 'boolean' ? (declared ? 'ON' : 'OFF') : String(declared).trim();
  const type = m.type.toUpperCase();
  if (type.includes('INT')) {
    const v = serverValue(declared);
    if (typeof v !== 'number' || !Number.isInteger(v)) return `${text} is not a whole number (sizes like 256M are)`;
    const n = BigInt(v);
    if (type.includes('UNSIGNED') && n < 0n) return `${text} is negative`;
    if (m.min !== null && n < BigInt(m.min)) return `${text} is below the minimum ${m.min}`;
    if (m.max !== null && n > BigInt(m.max)) return `${text} is above the maximum ${m.max}`;
    if (m.block !== null && BigInt(m.block) > 1n && n % BigInt(m.block) !== 0n)
      return `${text} is not a multiple of ${m.block}: the server would round it down to ${String(n - (n % BigInt(m.block)))}`;
    return undefined;
  }
  if (type === 'DOUBLE' || type === 'DECIMAL' || type === 'FLOAT') {
    const v = serverValue(declared);
    if (typeof v !== 'number') return `${text} is not a number`;
    if (m.min !== null && v < Number(m.min)) return `${text} is below the minimum ${m.min}`;
    if (m.max !== null && v > Number(m.max)) return `${text} is above the maximum ${m.max}`;
    return undefined;
  }
  if (type === 'BOOLEAN')
    return TRUE.has(text.toLowerCase()) || FALSE.has(text.toLowerCase()) ? undefined : `${text} is not ON or OFF`;
  // A list the server does not give (character_set_server is an ENUM of no listed names): its own parser decides.
  if (m.values === null || m.values.length === 0) return undefined;
  const allowed = new Set(m.values.map((v) => v.toLowerCase()));
  if (type === 'ENUM')
    return allowed.has(text.toLowerCase()) ? undefined : `${text} is not one of ${(m.values ?? []).join(', ')}`;
  if (type === 'SET') {
    const bad = text
      .split(',')
      .map((x) => x.trim())
      .filter((x) => x !== '' && !allowed.has(x.toLowerCase()));
    return bad.length === 0
      ? undefined
      : `${bad.join(', ')} ${bad.length === 1 ? 'is' : 'are'} not among ${(m.values ?? []).join(', ')}`;
  }
  if (type === 'FLAGSET') {
    const bad = text
      .split(',')
      .map((x) => x.trim())
      .filter((x) => {
        if (x.toLowerCase() === 'default') return false;
        const [flag, v] = x.split('=');
        return (
          flag === undefined ||
          !allowed.has(flag.trim().toLowerCase()) ||
          !['on', 'off', 'default'].includes((v ?? '').trim().toLowerCase())
        );
      });
    return bad.length === 0
      ? undefined
      : `${bad.join(', ')}: expected flag=on|off|default with flags among ${(m.values ?? []).filter((v) => v !== 'default').join(', ')}`;
  }
  return undefined;
}

/** A value as an option file reads it: quoted when it holds spaces, comment or quote characters. */
function optionValue(v: SettingValue): string {
  const text = typeof v === 'boolean' ? (v ? 'ON' : 'OFF') : String(v);
  return /[\s#;'"\\]/.test(text) ? `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"` : text;
}

/**
 * Checks a candidate option file with the server's own parser, where the host has one: `mariadbd` and
 * `mysqld` exit non-zero on an unknown variable or a value they refuse.
 */
const SERVER_CHECK =
  'b=; for x in /usr/sbin/mariadbd /usr/sbin/mysqld /usr/libexec/mysqld /usr/bin/mariadbd /usr/bin/mysqld /usr/local/mysql/bin/mysqld; do if [ -x "$x" ]; then b=$x; break; fi; done; ' +
  'if [ -n "$b" ]; then o=$("$b" --defaults-file="$t" --user=mysql --help --verbose 2>&1) || ' +
  "{ printf '%s\\n' \"$o\" | grep -E '\\[ERROR\\]|^[^ ]*(mariadbd|mysqld): ' | sed -e 's/^.*\\[ERROR\\] //' | sort -u | head -n 5 >&2; exit 1; }; fi";

/**
 * The config fragment: the declared settings under [mysqld], those the server says it would refuse
 * left out (they are reported as such), and checked by the server's own parser before it is written.
 */
export function renderConfig(ctx: MysqlContext): FileWant | undefined {
  const c = ctx.cluster;
  if (c.configFile === undefined) return undefined;
  const seen = ctx.observation(variables)?.items;
  const accepted = (name: string, v: SettingValue): boolean => {
    if (seen === undefined) return true;
    const have = seen.get(name.toLowerCase());
    if (have === undefined) return false;
    return have.accepts === undefined || refusal(v, have.accepts) === undefined;
  };
  const lines = Object.entries(c.settings)
    .filter(([k, v]) => accepted(k, v))
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k.toLowerCase()} = ${optionValue(v)}`);
  const content = `# Managed by setpoint: edits here are drift and are put back. Change the desired-state file instead.\n[mysqld]\n${lines.join('\n')}${lines.length > 0 ? '\n' : ''}`;
  // {host} in the path stands for the host's name: one file per host where hosts share a file system.
  return {
    path: c.configFile.path.replaceAll('{host}', ctx.hostName),
    content,
    mode: c.configFile.mode,
    validate: SERVER_CHECK,
    at: ['configFile', 'path'],
    ...(c.configFile.owner === undefined ? {} : { owner: c.configFile.owner }),
    ...(c.configFile.group === undefined ? {} : { group: c.configFile.group }),
    ...(c.configFile.followSymlink === undefined ? {} : { followSymlink: c.configFile.followSymlink }),
  };
}

export const configFile = fileKind('mysql.config', renderConfig, [variables]);
