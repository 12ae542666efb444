import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  cachingSha2Hash,
  nativeHash,
  parseCachingSha2,
  sha256CryptDigest,
  verifyPassword,
} from '../../agents/mysql/password.js';

test('mysql_native_password hash matches the server (PASSWORD("password") on MariaDB 10.11)', () => {
  assert.equal(nativeHash('password'), '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19');
  assert.equal(
    verifyPassword('mysql_native_password', Buffer.from('*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19'), 'password'),
    true,
  );
  assert.equal(
    verifyPassword('mysql_native_password', Buffer.from('*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19'), 'Password'),
    false,
  );
  assert.equal(verifyPassword('mysql_native_password', Buffer.from(''), ''), true);
  assert.equal(verifyPassword('mysql_native_password', Buffer.from(''), 'x'), false);
});

// Vectors of Drepper's SHA-crypt specification (https://www.akkadia.org/drepper/SHA-crypt.txt), each
// checked here against `openssl passwd -5` and glibc crypt(3); $5$ cuts salts to 16 bytes, so the
// salts below are given already cut.
const DREPPER: [string, string, number, string][] = [
  ['Hello world!', 'saltstring', 5000, '5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5'],
  ['Hello world!', 'saltstringsaltst', 10000, '3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA'],
  ['This is just a test', 'toolongsaltstrin', 5000, 'Un/5jzAHMgOGZ5.mWJpuVolil07guHPvOW8mGRcvxa5'],
  [
    'a very much longer text to encrypt.  This one even stretches over morethan one line.',
    'anotherlongsalts',
    1400,
    'Rx.j8H.h8HjEDGomFU8bDkXm3XIUnzyxf12oP84Bnq1',
  ],
  [
    'we have a short salt string but not a short password',
    'short',
    77777,
    'JiO1O3ZpDAxGJeaDIuqCoEFysAe1mZNJRs3pw0KQRd/',
  ],
  ['a short string', 'asaltof16chars..', 123456, 'gP3VQ/6X7UUEW3HkBn2w1/Ptq2jxPyzV/cZKmF/wJvD'],
  ['the minimum number is still observed', 'roundstoolow', 1000, 'yfvwcWrQ8l/K0DAWyuPMDNHpIVlTQebY9l/gL972bIC'],
];

for (const [pw, salt, rounds, want] of DREPPER) {
  test(`sha256-crypt vector: rounds=${rounds} salt=${salt}`, () => {
    assert.equal(sha256CryptDigest(Buffer.from(pw), Buffer.from(salt), rounds), want);
  });
}

test('caching_sha2_password verifier: MySQL layout ($A$005$ + 20-byte salt + 43 chars) round-trips and verifies', () => {
  // Salts are arbitrary bytes (MySQL strips only NUL and $): include a quote and a high byte.
  const salt = Buffer.from([
    0x69, 0x60, 0x78, 0x61, 0x79, 0x23, 0x66, 0x47, 0x2f, 0x5c, 0x27, 0x20, 0x54, 0x72, 0x62, 0x6b, 0x4e, 0x41, 0x38,
    0x7e,
  ]);
  const stored = cachingSha2Hash('s3cret Pässword', salt);
  assert.equal(stored.length, 70);
  assert.equal(stored.subarray(0, 7).toString('latin1'), '$A$005$');
  const parsed = parseCachingSha2(stored);
  assert.ok(parsed);
  assert.equal(parsed.rounds, 5000);
  assert.deepEqual(parsed.salt, salt);
  assert.equal(verifyPassword('caching_sha2_password', stored, 's3cret Pässword'), true);
  assert.equal(verifyPassword('caching_sha2_password', stored, 's3cret Password'), false);
  // The digest is SHA-crypt over the full 20-byte salt with 5000 rounds.
  assert.equal(parsed.digest, sha256CryptDigest(Buffer.from('s3cret Pässword'), salt, 5000));
});

test('caching_sha2_password: the rounds field is hexadecimal thousands', () => {
  const salt = Buffer.alloc(20, 0x41);
  const stored = cachingSha2Hash('pw', salt, 10000);
  assert.equal(stored.subarray(0, 7).toString('latin1'), '$A$00A$');
  assert.equal(parseCachingSha2(stored)?.rounds, 10000);
  assert.equal(verifyPassword('caching_sha2_password', stored, 'pw'), true);
});

test('unverifiable verifiers are reported as such, not as a match', () => {
  assert.equal(verifyPassword('ed25519', Buffer.from('abc'), 'x'), undefined);
  assert.equal(
    verifyPassword(
      'caching_sha2_password',
      Buffer.from('$A$005$THISISACOMBINATIONOFINVALIDSALTANDPASSWORDTHATMUSTNEVERBRBEUSED'),
      'x',
    ),
    false,
  );
  assert.equal(verifyPassword('caching_sha2_password', Buffer.from('garbage'), 'x'), undefined);
});
