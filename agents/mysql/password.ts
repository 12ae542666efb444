/**
 * Password verifiers of MySQL and MariaDB, checked without storing or re-sending the password:
 * the declared password is hashed with the stored verifier's own salt and compared.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

/** mysql_native_password verifier: `*` + upper-case hex of SHA1(SHA1(password)). */
export function nativeHash(password: string): string {
  const once = createHash('sha1').update(password, 'utf8').digest();
  return '*' + createHash('sha1').update(once).digest('hex').toUpperCase();
}

const B64 = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

function sha256(...parts: Buffer[]): Buffer {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}

/** `len` bytes made of `digest` repeated (SHA-crypt's P and S sequences). */
function repeatTo(digest: Buffer, len: number): Buffer {
  const out = Buffer.alloc(len);
  for (let i = 0; i < len; i += 32) digest.copy(out, i, 0, Math.min(32, len - i));
  return out;
}

/**
 * SHA-256 crypt (Drepper's SHA-crypt, the `$5$` scheme) over raw bytes, returning the 43-character
 * encoded digest. Unlike `$5$`, the salt is not cut to 16 bytes: MySQL's caching_sha2_password
 * uses this with a 20-byte salt.
 */
export function sha256CryptDigest(password: Buffer, salt: Buffer, rounds: number): string {
  const b = sha256(password, salt, password);
  const aParts: Buffer[] = [password, salt, repeatTo(b, password.length)];
  for (let n = password.length; n > 0; n >>= 1) aParts.push(n & 1 ? b : password);
  let c = sha256(...aParts);

  const dp = sha256(...Array<Buffer>(password.length).fill(password));
  const p = repeatTo(dp, password.length);
  const ds = sha256(...Array<Buffer>(16 + (c[0] ?? 0)).fill(salt));
  const s = repeatTo(ds, salt.length);

  for (let i = 0; i < rounds; i++) {
    const parts: Buffer[] = [i & 1 ? p : c];
    if (i % 3) parts.push(s);
    if (i % 7) parts.push(p);
    parts.push(i & 1 ? c : p);
    c = sha256(...parts);
  }

  let out = '';
  const enc = (b2: number, b1: number, b0: number, n: number) => {
    let w = (b2 << 16) | (b1 << 8) | b0;
    for (let k = 0; k < n; k++) {
      out += B64[w & 0x3f];
      w >>= 6;
    }
  };
  const at = (k: number) => c[k] ?? 0;
  for (let i = 0, k = 0; k < 10; k++) {
    enc(at(i), at((i + 10) % 30), at((i + 20) % 30), 4);
    i = (i + 21) % 30;
  }
  enc(0, at(31), at(30), 3);
  return out;
}

/** A parsed caching_sha2_password verifier: `$A$<rounds/1000 in hex, 3 digits>$<20-byte salt><43-char digest>`. */
export interface CachingSha2Verifier {
  rounds: number;
  salt: Buffer;
  digest: string;
}

export function parseCachingSha2(stored: Buffer): CachingSha2Verifier | undefined {
  // "$A$" + 3 hex digits + "$" + 20 salt bytes + 43 digest chars = 70 bytes.
  if (stored.length !== 70 || stored.subarray(0, 3).toString('latin1') !== '$A$' || stored[6] !== 0x24)
    return undefined;
  const count = Number.parseInt(stored.subarray(3, 6).toString('latin1'), 16);
  if (!Number.isFinite(count) || count <= 0) return undefined;
  return {
    rounds: count * 1000,
    salt: Buffer.from(stored.subarray(7, 27)),
    digest: stored.subarray(27).toString('latin1'),
  };
}

/** Builds a caching_sha2_password verifier (used by tests and to render known vectors). */
export function cachingSha2Hash(password: string, salt: Buffer, rounds = 5000): Buffer {
  if (salt.length !== 20) throw new Error('caching_sha2_password salt must be 20 bytes');
  const head = `$A$${(rounds / 1000).toString(16).toUpperCase().padStart(3, '0')}$`;
  return Buffer.concat([
    Buffer.from(head, 'latin1'),
    salt,
    Buffer.from(sha256CryptDigest(Buffer.from(password, 'utf8'), salt, rounds), 'latin1'),
  ]);
}

/** The auth plugins whose verifiers setpoint can check. */
export const VERIFIABLE_PLUGINS = ['mysql_native_password', 'caching_sha2_password'] as const;

/**
 * Does `password` match the stored verifier of `plugin`? `undefined` when the plugin's verifier
 * cannot be checked (then the password is set again, once, with a plugin that can).
 */
export function verifyPassword(plugin: string, stored: Buffer, password: string): boolean | undefined {
  if (plugin === 'mysql_native_password') {
    const want = Buffer.from(password === '' ? '' : nativeHash(password), 'latin1');
    return want.length === stored.length && timingSafeEqual(want, stored);
  }
  if (plugin === 'caching_sha2_password') {
    if (stored.length === 0) return password === '';
    const v = parseCachingSha2(stored);
    if (v === undefined || v.rounds > 5_000_000) return undefined;
    const got = Buffer.from(sha256CryptDigest(Buffer.from(password, 'utf8'), v.salt, v.rounds), 'latin1');
    const want = Buffer.from(v.digest, 'latin1');
    return got.length === want.length && timingSafeEqual(got, want);
  }
  return undefined;
}
