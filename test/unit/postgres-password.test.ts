import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { test } from 'node:test';
import {
  md5Verifier,
  parseScram,
  saslprep,
  scramKeys,
  scramVerifier,
  verifierMethod,
  verifyPassword,
} from '../../agents/postgres/password.js';

test('SCRAM-SHA-256 keys match RFC 7677 section 3 (user "user", password "pencil")', () => {
  const salt = Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64');
  const { storedKey, serverKey } = scramKeys('pencil', salt, 4096);
  const authMessage =
    'n=user,r=rOprNGfwEbeRWgbNEkqO,' +
    'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,' +
    'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0';
  // ServerSignature = HMAC(ServerKey, AuthMessage): the RFC's v=.
  assert.equal(
    createHmac('sha256', serverKey).update(authMessage).digest('base64'),
    '6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
  );
  // ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage), and StoredKey = SHA-256(ClientKey): the RFC's p=.
  const proof = Buffer.from('dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=', 'base64');
  const signature = createHmac('sha256', storedKey).update(authMessage).digest();
  const clientKey = Buffer.from(proof.map((b, i) => b ^ (signature[i] ?? 0)));
  assert.deepEqual(createHash('sha256').update(clientKey).digest(), storedKey);
});

// Verifiers written by PostgreSQL 15 itself (CREATE ROLE ... PASSWORD '...'), so the check below is against the server's algorithm.
const SERVER_SCRAM_PENCIL =
  'SCRAM-SHA-256$4096:Pljt0cD5BLnaSsYVjuBOHQ==$8hktw1emOAcv47wvMGdFYhq6QHj6OUjqHH8JNCXqpgY=:lgJwf/74EDTtdQxtbmr6TgmB+Y8mRf3OmVlvu898j3s=';
// Password U+FB01 (fi ligature), space, "Pässwörd", U+00A0, "x", U+00AD: SASLprep maps, removes and normalizes before hashing.
const SERVER_SCRAM_UNICODE =
  'SCRAM-SHA-256$4096:EYNjtqbnWznBSn19/0Ixxg==$BtfSc55W8cVDuX0ejqX7KDX2fJ3LjkjQWUYff2On5kw=:+3UhtYeqv1fUyy4ekwiD78hC+oRoy6EEY05vTwEEnGs=';
const UNICODE_PASSWORD = '\uFB01 P\u00E4ssw\u00F6rd\u00A0x\u00AD';

test('SCRAM verifiers written by PostgreSQL verify, and wrong passwords do not', () => {
  assert.equal(verifyPassword(SERVER_SCRAM_PENCIL, 'pencil', 'vec_a'), true);
  assert.equal(verifyPassword(SERVER_SCRAM_PENCIL, 'Pencil', 'vec_a'), false);
  assert.equal(verifyPassword(SERVER_SCRAM_UNICODE, UNICODE_PASSWORD, 'vec_b'), true);
  assert.equal(
    verifyPassword(SERVER_SCRAM_UNICODE, 'fi Pässwörd x', 'vec_b'),
    true,
    'the SASLprep form of the same password',
  );
  assert.equal(verifyPassword(SERVER_SCRAM_UNICODE, 'fi Passwort x', 'vec_b'), false);
});

test("a verifier built here has PostgreSQL's layout, a random salt, 4096 iterations, and verifies", () => {
  const a = scramVerifier('s3cret');
  const b = scramVerifier('s3cret');
  assert.match(a, /^SCRAM-SHA-256\$4096:[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=:[A-Za-z0-9+/]{43}=$/);
  assert.notEqual(a, b, 'a fresh salt each time');
  const parsed = parseScram(a);
  assert.ok(parsed);
  assert.equal(parsed.iterations, 4096);
  assert.equal(parsed.salt.length, 16);
  assert.equal(verifyPassword(a, 's3cret', 'any'), true);
  assert.equal(verifyPassword(a, 's3cret ', 'any'), false);
  // Same salt and iterations as the server's: the same verifier, byte for byte.
  assert.equal(
    scramVerifier('pencil', { salt: Buffer.from('Pljt0cD5BLnaSsYVjuBOHQ==', 'base64') }),
    SERVER_SCRAM_PENCIL,
  );
});

test('md5 verifiers are md5 of password followed by role name', () => {
  // Written by PostgreSQL 15 with password_encryption = md5 for role vec_c.
  assert.equal(md5Verifier('pencil', 'vec_c'), 'md57f382f9efbb4f6f33bd12517aec38a75');
  assert.equal(verifyPassword('md57f382f9efbb4f6f33bd12517aec38a75', 'pencil', 'vec_c'), true);
  assert.equal(
    verifyPassword('md57f382f9efbb4f6f33bd12517aec38a75', 'pencil', 'vec_d'),
    false,
    'the role name is part of the hash',
  );
  assert.equal(verifyPassword(md5Verifier('x', 'Report Reader'), 'x', 'Report Reader'), true);
});

test('verifier methods and unverifiable verifiers', () => {
  assert.equal(verifierMethod(null), 'none');
  assert.equal(verifierMethod(SERVER_SCRAM_PENCIL), 'scram-sha-256');
  assert.equal(verifierMethod('md57f382f9efbb4f6f33bd12517aec38a75'), 'md5');
  assert.equal(verifierMethod('SCRAM-SHA-256$x'), 'unknown');
  assert.equal(verifyPassword(null, 'x', 'r'), false, 'no password at all is a mismatch');
  assert.equal(verifyPassword('plaintext?', 'x', 'r'), undefined);
});

test('SASLprep: ASCII untouched, spaces mapped, ignorables removed, NFKC, prohibited output falls back to the raw password', () => {
  assert.equal(saslprep('pencil\u0001'), 'pencil\u0001', 'pure ASCII is taken as it is, control characters included');
  assert.equal(saslprep('a\u00A0b'), 'a b');
  assert.equal(saslprep('I\u00ADX'), 'IX');
  assert.equal(saslprep('\u2168'), 'IX', 'NFKC');
  assert.equal(saslprep('\u00AD'), '\u00AD', 'empty after mapping: used unchanged');
  assert.equal(saslprep('a\u0007\u00E9'), 'a\u0007\u00E9', 'a prohibited control character: used unchanged');
  assert.equal(saslprep('\u05D0a\u05D0'), '\u05D0a\u05D0', 'right-to-left mixed with left-to-right: used unchanged');
  assert.equal(saslprep('\u0627\u0031\u0628'), '\u0627\u0031\u0628', 'right-to-left at both ends: fine');
});
