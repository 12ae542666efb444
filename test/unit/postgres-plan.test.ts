/**
 * The postgres kinds' diff and plan on plain literals: catalog rows as the queries return them, turned
 * into observations by each kind's pure `*From` function, then diffed and planned. No server, no SQL.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { engines } from '../../agents/index.js';
import { databaseAccess, databases, databasesFrom, type DatabaseRow } from '../../agents/postgres/databases.js';
import { defaultPrivileges, defaultsFrom, type DefaultAclRow } from '../../agents/postgres/default-privileges.js';
import { extensions, extensionsFrom, type ExtensionRow } from '../../agents/postgres/extensions.js';
import { scramVerifier } from '../../agents/postgres/password.js';
import {
  privileges,
  privilegesFrom,
  type DatabaseAclRow,
  type ObjectAclRow,
} from '../../agents/postgres/privileges.js';
import { roles, rolesFrom, type MemberRow } from '../../agents/postgres/roles.js';
import { schemas, schemasFrom, type SchemaRow } from '../../agents/postgres/schemas.js';
import type { PgContext, PgFacts } from '../../agents/postgres/session.js';
import { settings, settingsFrom, type SettingRow } from '../../agents/postgres/settings.js';
import { parseFunctionSignature, type PostgresCluster } from '../../agents/postgres/spec.js';
import type { AnyKind, Change, Drift, Observation } from '../../src/engine.js';
import { SpecError } from '../../src/errors.js';
import { resolveSecret, Secret } from '../../src/secret.js';
import { parseSpec } from '../../src/spec/load.js';

type Rows = Record<string, unknown>[];
interface Canned {
  roles?: Rows;
  members?: MemberRow[];
  databases?: DatabaseRow[];
  schemas?: SchemaRow[];
  extensions?: ExtensionRow[];
  dbAcl?: DatabaseAclRow[];
  objects?: ObjectAclRow[];
  defaults?: DefaultAclRow[];
  settings?: SettingRow[];
}

const FACTS: PgFacts = {
  version: 150007,
  currentUser: 'postgres',
  superuser: true,
  bootstrapUser: 'postgres',
  database: 'postgres',
};

function cluster(body: string, policy = ''): PostgresCluster {
  const loaded = parseSpec(
    `version: 1\nhosts:\n  h:\n    address: 127.0.31.250\n    postgres: {}\nclusters:\n  c:\n    engine: postgres\n    members: [h]\n${body}\n${policy}`,
    'test.yaml',
    engines,
    { secrets: false },
  );
  return loaded.spec.clusters.c as PostgresCluster;
}

/** Every SQL kind's observation from canned rows (each per-database row set is what every ready database returns), then diff and plan. */
function pass(
  body: string,
  canned: Canned,
  opts: { prune?: boolean; facts?: PgFacts } = {},
): { drift: Drift[]; changes: Change[] } {
  const facts = opts.facts ?? FACTS;
  const observations = new Map<AnyKind, Observation<unknown, unknown>>();
  const ctx: PgContext = {
    cluster: cluster(body),
    host: { address: '127.0.31.250' },
    hostName: 'h',
    facts: { ...facts, packages: [] },
    prune: () => opts.prune === true,
    secret: resolveSecret,
    observation: <O, X>(k: { kind: string }) =>
      [...observations].find(([x]) => x.kind === k.kind)?.[1] as Observation<O, X> | undefined,
  };
  observations.set(roles, rolesFrom(canned.roles ?? [], canned.members ?? [], facts));
  const dbs = databasesFrom(
    canned.databases ?? [{ n: 'postgres', o: 'postgres', e: 'UTF8', co: 'C', ct: 'C', cl: -1, ac: true }],
  );
  observations.set(databases, dbs);
  const { ready, missing } = databaseAccess(ctx, dbs.extra.all);
  const each = <R>(rows: R[] | undefined) =>
    ready.flatMap((database) => (rows ?? []).map((row) => ({ database, row })));
  observations.set(schemas, schemasFrom(each(canned.schemas), missing));
  observations.set(extensions, extensionsFrom(each(canned.extensions), missing));
  observations.set(privileges, privilegesFrom(canned.dbAcl ?? [], each(canned.objects), missing, facts.version));
  observations.set(defaultPrivileges, defaultsFrom(each(canned.defaults), missing, facts.version));
  observations.set(settings, settingsFrom(canned.settings ?? [], facts.superuser));
  const drift: Drift[] = [];
  const changes: Change[] = [];
  for (const [k, o] of observations) {
    const d = k.diff(k.desired(ctx), o, ctx);
    drift.push(...d);
    changes.push(...k.plan(d, k.desired(ctx), o, ctx));
  }
  return { drift, changes };
}

const role = (name: string, extra: Record<string, unknown> = {}) => ({
  rolname: name,
  rolsuper: false,
  rolinherit: true,
  rolcreaterole: false,
  rolcreatedb: false,
  rolcanlogin: false,
  rolreplication: false,
  rolbypassrls: false,
  rolconnlimit: -1,
  validuntil: null,
  rolpassword: null,
  ...extra,
});
const LEDGER = [
  { n: 'postgres', o: 'postgres', e: 'UTF8', co: 'C', ct: 'C', cl: -1, ac: true },
  { n: 'template1', o: 'postgres', e: 'UTF8', co: 'C', ct: 'C', cl: -1, ac: true },
  { n: 'ledger', o: 'app_owner', e: 'UTF8', co: 'C', ct: 'C', cl: -1, ac: true },
];

test('the file: unknown keys and cross-field problems are errors with paths', () => {
  const bad = (body: string) => {
    try {
      cluster(body);
    } catch (err) {
      assert.ok(err instanceof SpecError);
      return err.problems.map((p) => `${p.path}: ${p.message}`).join('\n');
    }
    assert.fail('expected the file to be rejected');
  };
  assert.match(
    bad('    roles:\n      - { name: app, logn: true }'),
    /roles\[0\]\.logn: unknown key "logn" \(did you mean "login"\?\)/,
  );
  assert.match(
    bad('    roles:\n      - { name: app }\n      - { name: app }'),
    /roles\[1\]\.name: role "app" is already declared at roles\[0\]/,
  );
  assert.match(bad('    roles:\n      - { name: pg_monitor }'), /reserved for built-in roles/);
  assert.match(
    bad('    privileges:\n      - { database: d, role: r, on: { schema: s }, privileges: [SELECT] }'),
    /privileges\[0\]\.privileges\[0\]: "SELECT" is not a privilege on a schema/,
  );
  assert.match(
    bad('    privileges:\n      - { database: d, role: r, on: { tabel: s.t }, privileges: [SELECT] }'),
    /privileges\[0\]\.on/,
  );
  assert.match(
    bad(
      '    defaultPrivileges:\n      - { database: d, owner: o, schema: s, role: r, on: schemas, privileges: [USAGE] }',
    ),
    /defaultPrivileges\[0\]\.schema: default privileges on schemas apply to the whole database/,
  );
  assert.match(bad('    databases:\n      - { name: template1 }'), /never managed/);
  assert.match(bad(`    roles:\n      - { name: "${'é'.repeat(32)}" }`), /longer than 63 bytes/);
  assert.match(bad('    settings: { data_directory: /x }'), /cannot be set with ALTER SYSTEM/);
});

test('a declared password is compared with the stored verifier; a new one goes out as a SCRAM verifier behind $1, never as plaintext', () => {
  process.env.PG_PLAN_TEST_PW = 'Pw-plan-test-1';
  const body = '    roles:\n      - { name: "Report Reader", login: true, password: { env: PG_PLAN_TEST_PW } }';
  const same = pass(body, {
    roles: [role('Report Reader', { rolcanlogin: true, rolpassword: scramVerifier('Pw-plan-test-1') })],
  });
  assert.deepEqual(same.drift, []);
  const other = pass(body, {
    roles: [role('Report Reader', { rolcanlogin: true, rolpassword: scramVerifier('old') })],
  });
  assert.deepEqual(
    other.drift.map((d) => [d.id, d.field, d.observed]),
    [['"Report Reader"', 'password', 'a different password']],
  );
  const [change] = other.changes;
  assert.ok(change);
  assert.equal(change.statements[0]?.sql, 'ALTER ROLE "Report Reader" PASSWORD $1');
  const param = change.statements[0]?.params?.[0];
  assert.ok(param instanceof Secret);
  assert.match(param.reveal(), /^SCRAM-SHA-256\$4096:/);
  const printed = JSON.stringify({ drift: other.drift, changes: other.changes });
  assert.ok(!printed.includes('Pw-plan-test-1'), 'no plaintext in drift or plan');
  assert.ok(!printed.includes('SCRAM-SHA-256$'), 'no verifier in drift or plan');
});

test('without superuser a declared password is unverifiable: reported, and the change waits instead of looping', () => {
  process.env.PG_PLAN_TEST_PW = 'Pw-plan-test-1';
  const r = pass(
    '    roles:\n      - { name: app, password: { env: PG_PLAN_TEST_PW } }',
    { roles: [{ ...role('app'), rolpassword: '********' }] },
    { facts: { ...FACTS, superuser: false, currentUser: 'setpoint' } },
  );
  assert.equal(r.drift.length, 1);
  assert.match(String(r.drift[0]?.observed), /unverifiable: setpoint logs in as setpoint, which is not a superuser/);
  assert.match(r.changes[0]?.blocked ?? '', /cannot be verified without superuser/);
});

test('built-in roles, the bootstrap superuser and the session role are never observed, dropped or altered', () => {
  const r = pass(
    '    roles: []',
    { roles: [role('postgres', { rolsuper: true }), role('pg_monitor'), role('stray')] },
    { prune: true },
  );
  assert.deepEqual(
    r.drift.map((d) => [d.id, d.field]),
    [['stray', 'absent']],
  );
  assert.equal(r.changes[0]?.prune, 'users');
  const p = pass('    roles:\n      - { name: postgres, superuser: false }', {
    roles: [role('postgres', { rolsuper: true })],
  });
  assert.equal(p.changes.length, 1);
  assert.match(p.changes[0]?.blocked ?? '', /never changed/);
  assert.deepEqual(p.changes[0]?.statements, []);
});

test('allTablesInSchema covers the tables of each observation: a new table is drift, granted on that table only; the owner is left alone', () => {
  const body = `    databases:\n      - { name: ledger, owner: app_owner }\n    privileges:\n      - { database: ledger, role: rpt, on: { allTablesInSchema: books }, privileges: [SELECT] }\n      - { database: ledger, role: app_owner, on: { allTablesInSchema: books }, privileges: [ALL] }`;
  const obj = (n: string, acl: { g: string; p: string }[] | null): ObjectAclRow[] =>
    acl === null
      ? [{ t: 'table', s: 'books', n, a: null, o: 'app_owner', z: true, g: null, p: null, y: null }]
      : acl.map((x) => ({ t: 'table', s: 'books', n, a: null, o: 'app_owner', z: false, g: x.g, p: x.p, y: false }));
  const canned: Canned = {
    roles: [role('app_owner'), role('rpt')],
    databases: LEDGER,
    objects: [
      { t: 'schema', s: null, n: 'books', a: null, o: 'app_owner', z: true, g: null, p: null, y: null },
      ...obj('entries', [
        { g: 'app_owner', p: 'SELECT' },
        { g: 'rpt', p: 'SELECT' },
      ]),
      ...obj('new_table', null),
    ],
  };
  const r = pass(body, canned);
  assert.deepEqual(
    r.drift.map((d) => [d.id, d.desired, d.observed]),
    [['table ledger.books.new_table to rpt', ['SELECT'], []]],
  );
  assert.equal(r.changes.length, 1);
  assert.equal(r.changes[0]?.statements[0]?.sql, 'GRANT SELECT ON TABLE "books"."new_table" TO "rpt"');
  assert.equal(r.changes[0]?.statements[0]?.scope, 'ledger');
});

test('ALL and its expansion are the same grant: no drift, no loop', () => {
  const all = ['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER'].map((p): ObjectAclRow => ({
    t: 'table',
    s: 'books',
    n: 't',
    a: null,
    o: 'app_owner',
    z: false,
    g: 'rpt',
    p,
    y: false,
  }));
  const r = pass(
    '    privileges:\n      - { database: ledger, role: rpt, on: { table: books.t }, privileges: [ALL] }',
    { roles: [role('rpt')], databases: LEDGER, objects: all },
  );
  assert.deepEqual(r.drift, []);
});

test('a grant on a table that does not exist yet waits; undeclared privileges are revoked only with prune', () => {
  const body =
    '    roles:\n      - { name: rpt }\n    privileges:\n      - { database: ledger, role: rpt, on: { table: books.later }, privileges: [SELECT] }';
  const canned: Canned = {
    roles: [role('rpt')],
    databases: LEDGER,
    objects: [{ t: 'table', s: 'books', n: 'other', a: null, o: 'o', z: false, g: 'rpt', p: 'DELETE', y: false }],
  };
  const additive = pass(body, canned);
  assert.deepEqual(
    additive.changes.map((c) => [c.action, c.blocked]),
    [['grant', 'table books.later does not exist yet in database ledger']],
  );
  const exact = pass(body, canned, { prune: true });
  const revoke = exact.changes.find((c) => c.action === 'revoke');
  assert.equal(revoke?.statements[0]?.sql, 'REVOKE DELETE ON TABLE "books"."other" FROM "rpt"');
  assert.equal(revoke?.risk, 'destructive');
  assert.equal(revoke?.prune, 'grants');
});

test('database privileges: a NULL datacl is the owner default, and PUBLIC keeps CONNECT unless declared', () => {
  const r = pass(
    '    privileges:\n      - { database: ledger, role: PUBLIC, on: database, privileges: [CONNECT] }',
    {
      databases: LEDGER,
      dbAcl: [{ d: 'ledger', o: 'app_owner', n: true, g: null, p: null, y: null }],
    },
    { prune: true },
  );
  assert.deepEqual(
    r.changes.map((c) => c.statements[0]?.sql),
    ['REVOKE TEMPORARY ON DATABASE "ledger" FROM PUBLIC'],
  );
});

test('default privileges: a database-wide declaration compares with the built-in defaults when no row exists; per-schema rows only add', () => {
  const body =
    '    defaultPrivileges:\n      - { database: ledger, owner: app_owner, role: PUBLIC, on: functions, privileges: [EXECUTE] }\n      - { database: ledger, owner: app_owner, schema: books, role: rpt, on: tables, privileges: [SELECT, INSERT] }';
  const base: Canned = { roles: [role('app_owner'), role('rpt')], databases: LEDGER };
  const empty = pass(body, { ...base, defaults: [{ o: null, s: 'books', t: 'schema', g: null, p: null, y: null }] });
  assert.deepEqual(
    empty.drift.map((d) => d.id),
    ['ledger: for app_owner in schema books on tables to rpt'],
    'PUBLIC EXECUTE on functions is the built-in default',
  );
  assert.equal(
    empty.changes[0]?.statements[0]?.sql,
    'ALTER DEFAULT PRIVILEGES FOR ROLE "app_owner" IN SCHEMA "books" GRANT SELECT, INSERT ON TABLES TO "rpt"',
  );
  const revoked = pass(body, {
    ...base,
    defaults: [
      { o: null, s: 'books', t: 'schema', g: null, p: null, y: null },
      // REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC leaves a database-wide row without PUBLIC.
      { o: 'app_owner', s: null, t: 'f', g: 'app_owner', p: 'EXECUTE', y: false },
      { o: 'app_owner', s: 'books', t: 'r', g: 'rpt', p: 'SELECT', y: false },
      { o: 'app_owner', s: 'books', t: 'r', g: 'rpt', p: 'INSERT', y: false },
    ],
  });
  assert.deepEqual(
    revoked.changes.map((c) => c.statements[0]?.sql),
    ['ALTER DEFAULT PRIVILEGES FOR ROLE "app_owner" GRANT EXECUTE ON FUNCTIONS TO PUBLIC'],
  );
});

test('settings: persisted but pending a restart is a disruptive restart that waits, not a set again', () => {
  const row = (v: string, file: string | null, pending: boolean) => ({
    w: 'shared_buffers',
    n: 'shared_buffers',
    v,
    u: '8kB',
    t: 'integer',
    c: 'postmaster',
    s: 'configuration file',
    p: pending,
    file,
    ferr: pending ? 'setting could not be applied' : null,
  });
  const body = '    settings: { shared_buffers: 32MB }';
  const fresh = pass(body, { settings: [row('2048', '16MB', false)] });
  assert.deepEqual(
    fresh.changes.map((c) => [c.action, c.risk, c.statements.map((s) => s.sql)]),
    [['set', 'safe', ['ALTER SYSTEM SET "shared_buffers" = $1', 'SELECT pg_reload_conf()']]],
  );
  const pending = pass(body, { settings: [row('2048', '32MB', true)] });
  assert.deepEqual(
    pending.drift.map((d) => [d.field, d.observed]),
    [['pending_restart', '16MB until the server restarts']],
  );
  assert.deepEqual(
    pending.changes.map((c) => [c.action, c.risk]),
    [['restart', 'disruptive']],
  );
  assert.match(
    pending.changes[0]?.summary ?? '',
    /^restart the server on h: pending a restart for shared_buffers = 32MB/,
  );
  assert.match(pending.changes[0]?.blocked ?? '', /^a restart needs hosts\.h\.ssh and hosts\.h\.service/);
  const done = pass(body, { settings: [row('4096', '32MB', false)] });
  assert.deepEqual(done.drift, []);
});

test('settings: ALTER SYSTEM RESET by hand is drift even before a reload; not reloaded yet is a reload', () => {
  const body = '    settings: { work_mem: 64MB, log_min_duration_statement: 2s }';
  const r = pass(body, {
    settings: [
      {
        w: 'work_mem',
        n: 'work_mem',
        v: '65536',
        u: 'kB',
        t: 'integer',
        c: 'user',
        s: 'configuration file',
        p: false,
        file: null,
        ferr: null,
      },
      {
        w: 'log_min_duration_statement',
        n: 'log_min_duration_statement',
        v: '-1',
        u: 'ms',
        t: 'integer',
        c: 'superuser',
        s: 'default',
        p: false,
        file: '2000',
        ferr: null,
      },
    ],
  });
  assert.deepEqual(
    r.drift.map((d) => [d.id, d.field]),
    [
      ['work_mem', 'value'],
      ['log_min_duration_statement', 'running'],
    ],
  );
  assert.deepEqual(
    r.changes.map((c) => c.action),
    ['set', 'reload'],
  );
});

test('databases: encoding differences are reported and wait, never fixed by dropping', () => {
  const r = pass('    databases:\n      - { name: ledger, encoding: LATIN1 }', { databases: LEDGER });
  assert.deepEqual(
    r.changes.map((c) => [c.action, c.statements.length]),
    [['recreate', 0]],
  );
  assert.match(r.changes[0]?.blocked ?? '', /never drops a database/);
});

test('settings: compared with the configured value (reset_val), not the shown one; archive_command without archive_mode is reported', () => {
  const row = (w: string, v: string, r: string, extra: Partial<SettingRow> = {}): SettingRow => ({
    w,
    n: w,
    v,
    r,
    u: null,
    t: 'string',
    c: 'sighup',
    s: 'configuration file',
    p: false,
    file: r,
    ferr: null,
    auto: r,
    sa: true,
    ...extra,
  });
  const body = '    settings: { archive_command: "cp %p /a/%f", timezone: europe/berlin }';
  const r = pass(body, {
    settings: [row('archive_command', '(disabled)', 'cp %p /a/%f'), row('timezone', 'Europe/Berlin', 'europe/berlin')],
  });
  assert.deepEqual(
    r.drift.map((d) => [d.id, d.field]),
    [['archive_command', 'not_in_effect']],
  );
  assert.deepEqual(
    r.changes.map((c) => [c.statements.length, c.needsHuman]),
    [[0, 'SettingNotInEffect']],
  );
  assert.match(r.changes[0]?.blocked ?? '', /archive_mode is off, so archive_command does nothing/);
  const withMode = pass(`    settings: { archive_command: "cp %p /a/%f", archive_mode: on }`, {
    settings: [
      row('archive_command', '(disabled)', 'cp %p /a/%f'),
      row('archive_mode', 'off', 'off', { t: 'enum', c: 'postmaster', file: 'on', auto: 'on', p: true }),
    ],
  });
  assert.deepEqual(
    withMode.changes.map((c) => [c.action, c.needsHuman ?? null]),
    [
      ['set', null],
      ['restart', null],
    ],
  );
});

test('settings `{ reset: true }`: ALTER SYSTEM RESET while postgresql.auto.conf sets it, then a reload or a restart, then nothing', () => {
  const row = (auto: string | null, sa: boolean, p = false): SettingRow => ({
    w: 'work_mem',
    n: 'work_mem',
    v: '8192',
    r: '8192',
    u: 'kB',
    t: 'integer',
    c: 'user',
    s: sa ? 'configuration file' : 'default',
    p,
    file: auto,
    ferr: null,
    auto,
    sa,
  });
  const body = '    settings: { work_mem: { reset: true } }';
  assert.deepEqual(
    pass(body, { settings: [row('8MB', true)] }).changes.map((c) => c.statements.map((s) => s.sql)),
    [['ALTER SYSTEM RESET "work_mem"', 'SELECT pg_reload_conf()']],
  );
  assert.deepEqual(
    pass(body, { settings: [row(null, true)] }).changes.map((c) => c.action),
    ['reload'],
  );
  assert.deepEqual(
    pass(body, { settings: [row(null, true, true)] }).changes.map((c) => c.action),
    ['restart'],
  );
  assert.deepEqual(pass(body, { settings: [row(null, false)] }).drift, []);
});

test('column privileges: one GRANT per table and privilege set, columns listed, quoted', () => {
  const body =
    '    privileges:\n      - { database: ledger, role: reader, on: { table: books.accounts, columns: [id, "Bal ance"] }, privileges: [SELECT] }';
  const objects = [
    { t: 'schema' as const, s: null, n: 'books', a: null, o: 'app_owner', z: true, g: null, p: null, y: null },
    { t: 'table' as const, s: 'books', n: 'accounts', a: null, o: 'app_owner', z: true, g: null, p: null, y: null },
  ];
  const r = pass(body, { roles: [role('reader'), role('app_owner')], databases: LEDGER, objects });
  assert.deepEqual(
    r.changes.map((c) => c.statements.map((s) => s.sql)),
    [['GRANT SELECT ("id", "Bal ance") ON TABLE "books"."accounts" TO "reader"']],
  );
  const granted = pass(body, {
    roles: [role('reader'), role('app_owner')],
    databases: LEDGER,
    objects: [
      ...objects,
      ...['id', 'Bal ance'].map((a) => ({
        t: 'column' as const,
        s: 'books',
        n: 'accounts',
        a,
        o: 'app_owner',
        z: false,
        g: 'reader',
        p: 'SELECT',
        y: false,
      })),
    ],
  });
  assert.deepEqual(granted.drift, []);
});

test('function signatures: name as for tables, argument types split at top-level commas, anything else refused', () => {
  assert.deepEqual(parseFunctionSignature('books.total(integer, numeric(10,2), text[])'), {
    schema: 'books',
    name: 'total',
    args: ['integer', 'numeric(10,2)', 'text[]'],
  });
  assert.deepEqual(parseFunctionSignature('"My.Schema"."F(x)"()'), { schema: 'My.Schema', name: 'F(x)', args: [] });
  assert.deepEqual(parseFunctionSignature('now()'), { schema: 'public', name: 'now', args: [] });
  assert.match(JSON.stringify(parseFunctionSignature('books.total')), /expected a signature/);
  assert.match(JSON.stringify(parseFunctionSignature('books.total(integer')), /expected a signature/);
  assert.match(JSON.stringify(parseFunctionSignature('f(integer; drop)')), /is not an argument type/);
});
