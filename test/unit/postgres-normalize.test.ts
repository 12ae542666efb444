import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  defaultAcl,
  display,
  effectiveAcl,
  expand,
  normalizePrivilege,
  privilegesOf,
} from '../../agents/postgres/acl.js';
import { sameEncoding, sameLocale } from '../../agents/postgres/databases.js';
import {
  dotted,
  inlineParams,
  literalOf,
  nameId,
  parseQualifiedName,
  quoteIdent,
  quoteLiteral,
} from '../../agents/postgres/quote.js';
import {
  humanize,
  LIST_SETTINGS,
  listElements,
  normalizeSetting,
  parseBool,
  parseUnit,
  splitList,
} from '../../agents/postgres/settings.js';

const PG15 = 150007;

test('settings compare in the server unit: 1GB = 1024MB = 131072 pages of 8kB (shared_buffers)', () => {
  const meta = { vartype: 'integer', unit: '8kB' };
  const want = normalizeSetting('1GB', meta);
  assert.equal(want, '131072');
  assert.equal(normalizeSetting('1024MB', meta), want);
  assert.equal(normalizeSetting(131072, meta), want);
  assert.equal(normalizeSetting('131072', meta), want);
  assert.equal(normalizeSetting('1048576kB', meta), want);
  assert.equal(normalizeSetting(' 1 GB ', meta), want, 'spaces around and between are allowed');
  assert.notEqual(normalizeSetting('1000MB', meta), want);
  assert.equal(normalizeSetting('1gb', meta), undefined, 'units are case-sensitive');
  assert.equal(normalizeSetting('1s', meta), undefined, 'a time unit is no memory unit');
});

test('memory in kB (work_mem) rounds to the nearest unit like PostgreSQL', () => {
  const meta = { vartype: 'integer', unit: 'kB' };
  assert.equal(normalizeSetting('64MB', meta), '65536');
  assert.equal(normalizeSetting('1.5MB', meta), '1536');
  assert.equal(normalizeSetting('1536B', meta), '2', '1.5 rounds to even');
  assert.equal(normalizeSetting('2560B', meta), '2', '2.5 rounds to even');
});

test('times: us, ms, s, min, h, d in the unit of the setting', () => {
  const ms = { vartype: 'integer', unit: 'ms' };
  assert.equal(normalizeSetting('2s', ms), '2000');
  assert.equal(normalizeSetting('2000', ms), '2000');
  assert.equal(normalizeSetting(2000, ms), '2000');
  assert.equal(normalizeSetting('1min', ms), '60000');
  assert.equal(normalizeSetting('1h', ms), '3600000');
  assert.equal(normalizeSetting('1d', ms), '86400000');
  assert.equal(normalizeSetting('1500us', ms), '2');
  assert.equal(normalizeSetting('-1', ms), '-1', 'disabled');
  const s = { vartype: 'integer', unit: 's' };
  assert.equal(normalizeSetting('5min', s), '300');
  const min = { vartype: 'integer', unit: 'min' };
  assert.equal(normalizeSetting('1d', min), '1440');
  const realMs = { vartype: 'real', unit: 'ms' };
  assert.equal(normalizeSetting('2ms', realMs), '2');
  assert.equal(normalizeSetting('500us', realMs), '0.5', 'real settings keep fractions');
});

test('booleans: on/off, true/false, yes/no, 1/0 and unique prefixes', () => {
  const meta = { vartype: 'bool', unit: null };
  for (const v of ['on', 'ON', 'true', 'yes', '1', 't', 'y', true])
    assert.equal(normalizeSetting(v, meta), 'on', String(v));
  for (const v of ['off', 'false', 'no', '0', 'f', 'n', 'of', false])
    assert.equal(normalizeSetting(v, meta), 'off', String(v));
  assert.equal(parseBool('o'), undefined, '"o" is ambiguous');
  assert.equal(normalizeSetting('maybe', meta), undefined);
});

test('enums ignore case; strings are exact; lists ignore spacing and quotes', () => {
  assert.equal(
    normalizeSetting('Replica', { vartype: 'enum', unit: null }),
    normalizeSetting('replica', { vartype: 'enum', unit: null }),
  );
  assert.notEqual(
    normalizeSetting('%m [%p] ', { vartype: 'string', unit: null }),
    normalizeSetting('%m [%p]', { vartype: 'string', unit: null }),
  );
  const list = { vartype: 'string', unit: null };
  assert.equal(
    normalizeSetting(['pg_stat_statements', 'auto_explain'], list),
    normalizeSetting('pg_stat_statements, auto_explain', list),
  );
  assert.equal(normalizeSetting(['a', 'b'], list), normalizeSetting('"a",b', list));
});

test('running values are shown in the largest exact unit', () => {
  assert.equal(humanize('2048', '8kB'), '16MB');
  assert.equal(humanize('131072', '8kB'), '1GB');
  assert.equal(humanize('65536', 'kB'), '64MB');
  assert.equal(humanize('2000', 'ms'), '2s');
  assert.equal(humanize('-1', 'ms'), '-1');
  assert.equal(humanize('100', null), '100');
  assert.deepEqual(parseUnit('16MB'), { kind: 'memory', factor: 16 * 1024 * 1024 });
});

test('ALL expands per object type and server version; display folds a full set back to ALL', () => {
  assert.deepEqual([...expand(['ALL'], 'database', PG15)], ['CREATE', 'CONNECT', 'TEMPORARY']);
  assert.deepEqual([...expand(['ALL'], 'schema', PG15)], ['USAGE', 'CREATE']);
  assert.deepEqual([...expand(['ALL'], 'sequence', PG15)], ['USAGE', 'SELECT', 'UPDATE']);
  assert.deepEqual([...expand(['ALL'], 'function', PG15)], ['EXECUTE']);
  assert.equal(expand(['ALL'], 'table', PG15).size, 7);
  assert.equal(expand(['ALL'], 'table', 170000).has('MAINTAIN'), true, 'PostgreSQL 17 adds MAINTAIN to tables');
  const expanded = new Set(privilegesOf('table', PG15));
  assert.deepEqual(display(expanded, 'table', PG15), ['ALL'], 'ALL and its expansion are the same grant');
  assert.deepEqual(display(new Set(['UPDATE', 'SELECT']), 'table', PG15), ['SELECT', 'UPDATE']);
  assert.equal(normalizePrivilege('temp', 'database'), 'TEMPORARY');
  assert.equal(normalizePrivilege('all privileges', 'schema'), 'ALL');
  assert.equal(normalizePrivilege('select', 'schema'), undefined, 'SELECT is no schema privilege');
});

test('a NULL ACL means the built-in defaults: owner everything, PUBLIC per type', () => {
  const db = effectiveAcl('database', 'app_owner', null, PG15);
  assert.deepEqual([...(db.get('app_owner')?.privileges ?? [])], ['CREATE', 'CONNECT', 'TEMPORARY']);
  assert.deepEqual([...(db.get('PUBLIC')?.privileges ?? [])], ['CONNECT', 'TEMPORARY']);
  assert.deepEqual([...(effectiveAcl('function', 'o', null, PG15).get('PUBLIC')?.privileges ?? [])], ['EXECUTE']);
  assert.equal(effectiveAcl('table', 'o', null, PG15).has('PUBLIC'), false);
  assert.equal(effectiveAcl('schema', 'o', null, PG15).has('PUBLIC'), false);
  assert.equal(
    defaultAcl('type', 'o', PG15)
      .find((e) => e.grantee === 'PUBLIC')
      ?.privileges.has('USAGE'),
    true,
  );
  // An explicit ACL is what it says, even if it lost the owner's rows; rows of one grantee from several grantors merge.
  const explicit = effectiveAcl(
    'database',
    'app_owner',
    [
      { grantee: 'r', privilege: 'CONNECT', grantable: false },
      { grantee: 'r', privilege: 'CONNECT', grantable: true },
      { grantee: 'r', privilege: 'CREATE', grantable: false },
    ],
    PG15,
  );
  assert.equal(explicit.has('app_owner'), false);
  assert.equal(explicit.has('PUBLIC'), false, 'REVOKE CONNECT FROM PUBLIC makes the ACL explicit without PUBLIC');
  assert.deepEqual([...(explicit.get('r')?.privileges ?? [])], ['CONNECT', 'CREATE']);
  assert.deepEqual([...(explicit.get('r')?.grantable ?? [])], ['CONNECT']);
});

test('identifiers always double-quoted with quotes doubled; NUL rejected', () => {
  assert.equal(quoteIdent('app'), '"app"');
  assert.equal(quoteIdent('Report Reader'), '"Report Reader"');
  assert.equal(quoteIdent('a"b'), '"a""b"');
  assert.equal(quoteIdent('Ünïcødé'), '"Ünïcødé"');
  assert.throws(() => quoteIdent('a\0b'), /NUL/);
});

test('literals: quotes doubled, E-form when a backslash is present; NUL rejected', () => {
  assert.equal(quoteLiteral("it's"), "'it''s'");
  assert.equal(quoteLiteral('a\\b'), "E'a\\\\b'");
  assert.equal(quoteLiteral("\\'"), "E'\\\\'''");
  assert.throws(() => quoteLiteral('a\0'), /NUL/);
  assert.equal(literalOf(5), '5');
  assert.equal(literalOf(false), 'false');
  assert.equal(literalOf(null), 'NULL');
});

test('parameters inline outside quoted names and literals only', () => {
  assert.equal(inlineParams('ALTER ROLE "a$1" PASSWORD $1', ["'x'"]), `ALTER ROLE "a$1" PASSWORD 'x'`);
  assert.equal(inlineParams('ALTER SYSTEM SET "x" = $1, $2', ["'a'", "'b'"]), `ALTER SYSTEM SET "x" = 'a', 'b'`);
  assert.equal(inlineParams(`SELECT '$1', $1`, ['7']), `SELECT '$1', 7`);
  assert.equal(
    inlineParams('CREATE ROLE "x""$1" CONNECTION LIMIT $1', ['3']),
    'CREATE ROLE "x""$1" CONNECTION LIMIT 3',
  );
  assert.throws(() => inlineParams('SELECT $2', ['1']), /\$2/);
});

test('names in ids: bare when plain lower case, else double-quoted; qualified names parse with quotes', () => {
  assert.equal(nameId('ledger'), 'ledger');
  assert.equal(nameId('Report Reader'), '"Report Reader"');
  assert.equal(dotted('ledger', 'Books', 'e'), 'ledger."Books".e');
  assert.deepEqual(parseQualifiedName('books.entries'), { schema: 'books', name: 'entries' });
  assert.deepEqual(parseQualifiedName('entries'), { schema: 'public', name: 'entries' });
  assert.deepEqual(parseQualifiedName('"my.schema"."T""x"'), { schema: 'my.schema', name: 'T"x' });
  assert.equal(typeof parseQualifiedName('a.b.c'), 'string');
  assert.equal(typeof parseQualifiedName('"unterminated'), 'string');
});

test('encodings and locales compare as PostgreSQL does', () => {
  assert.equal(sameEncoding('UTF8', 'utf-8'), true);
  assert.equal(sameEncoding('LATIN1', 'UTF8'), false);
  assert.equal(sameLocale('en_US.UTF-8', 'en_US.utf8'), true);
  assert.equal(sameLocale('C', 'C'), true);
  assert.equal(sameLocale('C', 'POSIX'), false);
});

test('numbers are read as the server reads them: hex and octal integers, and nothing may trail the unit', () => {
  const kb = { vartype: 'integer', unit: 'kB' };
  assert.equal(normalizeSetting('0x40', kb), '64');
  assert.equal(normalizeSetting('010', kb), '8', 'strtol base 0: a leading 0 is octal');
  assert.equal(normalizeSetting('08', kb), undefined, '8 is no octal digit: garbage after "0"');
  assert.equal(normalizeSetting('0.5MB', kb), '512', 'a fraction is decimal');
  for (const bad of ['64MBjunk', '64MB;', '64 MB x', '64constructor', '64toString', '1.2.3'])
    assert.equal(normalizeSetting(bad, kb), undefined, bad);
});

test('list settings compare element by element as the server splits them: quoted elements keep case, spaces and commas', () => {
  const path = { vartype: 'string', unit: null, list: 'quote' as const };
  assert.deepEqual(splitList('"My Schema", public', 'quote'), ['My Schema', 'public']);
  assert.deepEqual(splitList('"a ""q"" b",C', 'quote'), ['a "q" b', 'c'], 'unquoted identifiers fold to lower case');
  assert.deepEqual(splitList('"a, b"', 'quote'), ['a, b']);
  assert.equal(splitList('"open', 'quote'), undefined);
  assert.equal(splitList('a,,b', 'quote'), undefined);
  assert.equal(normalizeSetting(['My Schema', 'public'], path), normalizeSetting('"My Schema", public', path));
  assert.equal(normalizeSetting(['$user', 'public'], path), normalizeSetting('"$user", public', path));
  assert.equal(
    normalizeSetting(['"$user"', 'public'], path),
    normalizeSetting('"$user", public', path),
    'an element written quoted means the same',
  );
  assert.notEqual(
    normalizeSetting(['Public'], path),
    normalizeSetting('public', path),
    'an array element is literal: Public is not public',
  );
  assert.deepEqual(
    listElements('Public, x', 'quote'),
    ['public', 'x'],
    'a string is split and folded as postgresql.conf would',
  );
  const plain = { vartype: 'string', unit: null, list: 'plain' as const };
  assert.equal(normalizeSetting('ISO, MDY', plain), normalizeSetting(['iso', 'mdy'], plain));
  assert.equal(LIST_SETTINGS.get('search_path'), 'quote');
  assert.equal(LIST_SETTINGS.get('datestyle'), 'plain');
});
