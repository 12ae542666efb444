/**
 * The fast path of loading (js-yaml with a YAML 1.2 core schema) gives the same data as the `yaml`
 * package the slow path uses, on every scalar form the core schema resolves and on the example file;
 * where it cannot decide (syntax errors, duplicate keys, anchors, unknown tags) it steps aside.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parse } from 'yaml';
import { fastLoad } from '../../src/spec/fast-yaml.js';

const same = (text: string) => {
  const fast = fastLoad(text);
  let slow: unknown;
  try {
    slow = parse(text, { uniqueKeys: true, strict: true });
  } catch {
    assert.equal(fast, undefined, `both refuse:\n${text}`);
    return;
  }
  assert.ok(fast !== undefined, `the fast path decides:\n${text}`);
  assert.deepEqual(fast.data, slow, text);
};

test('plain scalars resolve as YAML 1.2 core: the same values as the yaml package', () => {
  const scalars = [
    '~',
    'null',
    'Null',
    'NULL',
    '',
    'true',
    'True',
    'TRUE',
    'false',
    'FALSE',
    // YAML 1.1 booleans and forms that are strings in 1.2.
    'yes',
    'no',
    'on',
    'off',
    'y',
    'n',
    'Yes',
    'ON',
    '0',
    '-0',
    '+12',
    '0012',
    '0o17',
    '0o8',
    '0x1F',
    '0xg',
    '0b101',
    '1_000',
    '012',
    '1.5',
    '-.5',
    '+1.',
    '1e3',
    '1E-3',
    '.inf',
    '-.Inf',
    '+.INF',
    '.nan',
    '.NaN',
    '1.2.3',
    '2027-01-01',
    '2027-01-01T00:00:00Z',
    '12:30:00',
    '64MB',
    '2s',
    '16MB',
    '1h30m',
    '"quoted"',
    "'single'",
    '"0x1F"',
    '!!str 12',
    '!!int "12"',
    '<<',
    '=',
    '- x',
    '127.0.0.1',
    '"%"',
    '"127.%"',
    '"a # b"',
    'a#b',
  ];
  for (const s of scalars) same(`v: ${s}\n`);
  same('<<: { a: 1 }\nb: 2\n');
});

test('block and flow collections, multi-line strings, comments, the example file', () => {
  same(`a:
  - { name: x, grants: [{ privileges: [SELECT, INSERT], on: "shop.*" }] }
  - name: "y z"
    text: |
      line one
        indented
      last
    folded: >-
      folded
      text
# a comment
b: { "quoted key": 1, 'single': "esc\\t\\u00e9\\n" }
`);
  same(readFileSync('config/setpoint.example.yaml', 'utf8'));
});

test('the fast path steps aside where only the slow path can say what is wrong, or guard against aliases', () => {
  for (const text of [
    'a: 1\na: 2\n', // a duplicate key
    'a: [1, 2\n', // a syntax error
    'base: &b { x: 1 }\nother: *b\n', // anchors and aliases
    'a: !!timestamp 2027-01-01\n', // a tag the core schema does not know
    'a: 1\n---\nb: 2\n', // two documents
  ])
    assert.equal(fastLoad(text), undefined, text);
});
