/**
 * The JSON Schema editors use (config/setpoint.schema.json, `setpoint schema`): generated from the zod
 * schemas and up to date; every example in config/ and every YAML snippet of the README is valid under
 * it, checked by a standard validator (Ajv, draft-07) rather than by setpoint's own code; it accepts
 * what `validate` accepts where zod refinements and transforms have no JSON Schema form, and it still
 * catches the mistakes an editor should mark.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Ajv, type ValidateFunction } from 'ajv';
import yaml from 'js-yaml';
import { engines } from '../../agents/index.js';
import { SpecError } from '../../src/errors.js';
import { jsonSchema } from '../../src/spec/file-schema.js';
import { parseSpec } from '../../src/spec/load.js';

const shipped = JSON.parse(readFileSync('config/setpoint.schema.json', 'utf8')) as Record<string, unknown>;

function compile(schema: Record<string, unknown>): ValidateFunction {
  // strict: an unknown keyword or a pattern the validator cannot compile fails here, not silently.
  return new Ajv({ strict: true, allErrors: true }).compile(schema);
}
const validateFile = compile(shipped);
/** README fragments (`clusters:` only) are checked with the same schema, the top-level keys not required. */
const validateFragment = compile({ ...shipped, required: [] });

function errors(v: ValidateFunction, data: unknown): string[] {
  return v(data) ? [] : (v.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ''}`);
}

/** YAML 1.2 core schema: the values setpoint's own loader reads. */
function load(text: string): unknown {
  return yaml.load(text, { schema: yaml.CORE_SCHEMA });
}

test('config/setpoint.schema.json is what `setpoint schema` prints now (run `npm run schema` after a schema change)', () => {
  assert.deepEqual(
    shipped,
    jsonSchema(engines),
    'config/setpoint.schema.json is out of date: run npm run schema and commit it',
  );
  const cli = spawnSync(process.execPath, ['--import', 'tsx', 'bin/setpoint.ts', 'schema'], { encoding: 'utf8' });
  assert.equal(cli.status, 0, cli.stderr);
  assert.deepEqual(JSON.parse(cli.stdout), shipped);
  assert.equal(shipped.$schema, 'http://json-schema.org/draft-07/schema#');
});

test('every example in config/ carries the modeline and is valid under the schema (and for validate)', () => {
  const examples = readdirSync('config').filter((f) => /\.ya?ml$/.test(f));
  assert.ok(examples.length >= 1);
  for (const f of examples) {
    const text = readFileSync(join('config', f), 'utf8');
    assert.equal(
      text.split('\n')[0],
      '# yaml-language-server: $schema=./setpoint.schema.json',
      `${f}: first line is the modeline`,
    );
    assert.deepEqual(errors(validateFile, load(text)), [], f);
    parseSpec(text, f, engines, { secrets: false });
  }
});

test('every YAML snippet of the README is valid under the schema', () => {
  const readme = readFileSync('README.md', 'utf8');
  const snippets = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] as string);
  assert.ok(snippets.length >= 3, `found ${snippets.length} snippets`);
  let whole = 0;
  for (const [i, text] of snippets.entries()) {
    const data = load(text) as Record<string, unknown>;
    if ('version' in data) {
      whole++;
      assert.deepEqual(errors(validateFile, data), [], `README snippet ${i + 1}`);
      parseSpec(text, `README snippet ${i + 1}`, engines, { secrets: false });
    } else assert.deepEqual(errors(validateFragment, data), [], `README snippet ${i + 1} (a fragment)`);
  }
  assert.ok(whole >= 1, 'the README has a whole file');
});

const HOSTS = `version: 1
hosts:
  db1: { address: 10.0.0.1, mysql: { password: { env: PW } } }
  pg1: { address: pg1.example.com, postgres: { port: 5433, password: { file: /etc/setpoint/pg.pw } } }
`;

test('what validate accepts through refinements and transforms, the schema accepts too (no false errors in an editor)', () => {
  const files = [
    // Privileges in any case, backquoted grant targets, a socket user with no password, prune by class.
    `${HOSTS}clusters:
  orders:
    engine: mysql
    members: [db1]
    prune: { users: true, grants: false }
    users:
      - { name: app, host: "127.%", password: { env: APP_PW }, grants: [{ privileges: [select, Insert], on: "\`my.db\`.*" }] }
      - { name: sock, plugin: unix_socket, tls: x509, grants: [{ privileges: [ALL], on: "*.*", grantOption: true }] }
    settings: { max_connections: 500, innodb_buffer_pool_size: 256M, log_bin: true }
    configFile: { path: "/etc/mysql/conf.d/{host}.cnf", mode: "0640" }
    replication: { primary: db1, user: repl, password: { file: /etc/setpoint/repl.pw }, maxLagSeconds: 5 }
policy:
  maintenanceWindows: [{ cron: "0 2 * * 0", minutes: 120, timezone: Europe/Berlin }]
  retention: { keepDays: 7 }
  backoff: { initialSeconds: 2, maxSeconds: 60 }
`,
    // memberOf as names and objects, public as a grantee, sizes as text, list settings, every privilege target.
    `${HOSTS}clusters:
  ledger:
    engine: postgres
    members: [pg1]
    roles:
      - { name: owner, login: false }
      - { name: app, password: { env: APP_PW }, memberOf: [owner, { role: owner2, admin: true }], validUntil: infinity }
    databases: [{ name: ledger, owner: owner, strategy: file_copy, connectionLimit: -1 }]
    schemas: [{ database: ledger, name: "My Schema", owner: owner }]
    extensions: [{ database: ledger, name: pgcrypto, version: latest }]
    privileges:
      - { database: ledger, role: public, on: database, privileges: [connect, temp] }
      - { database: ledger, role: app, on: { table: "books.\\"Odd Name\\"" }, privileges: [SELECT] }
      - { database: ledger, role: app, on: { allSequencesInSchema: books }, privileges: [usage] }
    defaultPrivileges:
      - { database: ledger, owner: owner, role: app, on: functions, privileges: [EXECUTE] }
    settings: { work_mem: 64MB, search_path: ["My Schema", public], shared_preload_libraries: pg_stat_statements, max_connections: 200 }
    replication: { primary: pg1, user: replicator, password: { env: R }, maxLagBytes: 16MB, synchronous: { count: 0 } }
`,
  ];
  for (const [i, text] of files.entries()) {
    parseSpec(text, `case ${i + 1}`, engines, { secrets: false });
    assert.deepEqual(errors(validateFile, load(text)), [], `case ${i + 1}`);
  }
});

test('the schema marks the mistakes an editor should: unknown keys, wrong types, values out of range, bad secret references', () => {
  const bad: [string, RegExp][] = [
    [`${HOSTS}clusters:\n  o: { engine: mysql, members: [db1], databses: [] }\n`, /additional properties/],
    [`${HOSTS}clusters:\n  o: { engine: mysql, members: [db1], schemas: [] }\n`, /additional properties/],
    [`${HOSTS}clusters:\n  o: { engine: oracle, members: [db1] }\n`, /oneOf|constant/],
    [`${HOSTS}clusters:\n  o: { engine: mysql, members: [db1], mode: enforcing }\n`, /allowed values/],
    [`${HOSTS}clusters:\n  o: { engine: mysql, members: [] }\n`, /fewer than 1/],
    [`version: 1\nhosts:\n  db1: { address: x, mysql: { port: 70000 } }\n`, /must be <= 65535/],
    [
      `version: 1\nhosts:\n  db1: { address: x, mysql: { password: { env: A, file: /b } } }\n`,
      /more than 1 properties/,
    ],
    [`version: 1\nhosts:\n  db1: { address: x, mysql: { password: {} } }\n`, /fewer than 1 properties/],
    [`version: 2\nhosts: {}\n`, /constant/],
    [`version: 1\nhosts: {}\npolicy: { resyncSeconds: "30" }\n`, /must be number/],
    [`version: 1\nhosts:\n  "bad name": { address: x }\n`, /property name/],
  ];
  for (const [text, want] of bad) {
    const found = errors(validateFile, load(text));
    assert.ok(found.length > 0, `the schema accepts:\n${text}`);
    assert.match(found.join('; '), want, text);
    // validate refuses each of them too: the schema is never stricter than validate in these cases.
    assert.throws(() => parseSpec(text, 'bad.yaml', engines, { secrets: false }), SpecError, text);
  }
});
