/**
 * PostgreSQL password verifiers, checked without storing or re-sending the password, and built
 * client-side so the plaintext never reaches the server (or its logs, or a replica):
 *   SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>   (RFC 5802/7677, base64 parts)
 *   md5<hex of md5(password || rolename)>
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';

/** Iterations PostgreSQL uses by default (scram_iterations, 4096). */
export const SCRAM_ITERATIONS = 4096;
const SALT_BYTES = 16;

// RFC 3454 tables, as PostgreSQL's src/common/saslprep.c uses them.
const NON_ASCII_SPACE = /[\u00A0\u1680\u2000-\u200B\u202F\u205F\u3000]/gu;
// eslint-disable-next-line no-misleading-character-class -- these joiners and selectors are removed on purpose (table B.1)
const MAPPED_TO_NOTHING = /[\u00AD\u034F\u1806\u180B-\u180D\u200B-\u200D\u2060\uFE00-\uFE0F\uFEFF]/gu;
const PROHIBITED =
  // C.1.2, C.2.1, C.2.2, C.3, C.4, C.5, C.6, C.7, C.8, C.9
  // eslint-disable-next-line no-control-regex, no-misleading-character-class -- control characters are what this table is about
  /[\u00A0\u1680\u2000-\u200B\u202F\u205F\u3000\u0000-\u001F\u007F\u0080-\u009F\u06DD\u070F\u180E\u200C\u200D\u2028\u2029\u2060-\u2063\u206A-\u206F\uFEFF\uFFF9-\uFFFC\u{1D173}-\u{1D17A}\uE000-\uF8FF\u{F0000}-\u{FFFFD}\u{100000}-\u{10FFFD}\uFDD0-\uFDEF\uFFFE\uFFFF\u{1FFFE}\u{1FFFF}\u{2FFFE}\u{2FFFF}\u{3FFFE}\u{3FFFF}\u{4FFFE}\u{4FFFF}\u{5FFFE}\u{5FFFF}\u{6FFFE}\u{6FFFF}\u{7FFFE}\u{7FFFF}\u{8FFFE}\u{8FFFF}\u{9FFFE}\u{9FFFF}\u{AFFFE}\u{AFFFF}\u{BFFFE}\u{BFFFF}\u{CFFFE}\u{CFFFF}\u{DFFFE}\u{DFFFF}\u{EFFFE}\u{EFFFF}\u{FFFFE}\u{FFFFF}\u{10FFFE}\u{10FFFF}\uD800-\uDFFF\uFFF9-\uFFFD\u2FF0-\u2FFB\u0340\u0341\u200E\u200F\u202A-\u202E\u{E0001}\u{E0020}-\u{E007F}]/u;
// Table A.1 lists code points unassigned in Unicode 3.2; the current Unicode's unassigned set
// (\p{Cn}) stands in for it. They differ only for characters assigned since 3.2, in passwords
// that also hold characters NFKC changes.
const UNASSIGNED = /\p{Cn}/u;
// D.1 (RandALCat) and D.2 (LCat), by the scripts that make them up.
const RAND_AL =
  /[\p{Script=Hebrew}\p{Script=Arabic}\p{Script=Syriac}\p{Script=Thaana}\p{Script=Nko}\u200F\uFB1D-\uFDFF\uFE70-\uFEFC]/u;
const L_CAT = /[\p{L}\p{Mc}]/u;

/**
 * SASLprep (RFC 4013) as PostgreSQL applies it to passwords: an ASCII password is taken as it is;
 * otherwise spaces are mapped, ignorable characters removed, NFKC applied, and if the result holds a
 * prohibited character or mixes directions (or is empty), the password is used unchanged.
 */
export function saslprep(password: string): string {
  // eslint-disable-next-line no-control-regex -- "is it ASCII" is the question
  if (/^[\x00-\x7F]*$/.test(password)) return password;
  // Lone surrogates are not UTF-8: PostgreSQL would see invalid UTF-8 and use the bytes as they are.
  if (/[\uD800-\uDFFF]/.test(password.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, ''))) return password;
  const mapped = password.replace(NON_ASCII_SPACE, ' ').replace(MAPPED_TO_NOTHING, '');
  if (mapped === '') return password;
  const out = mapped.normalize('NFKC');
  if (PROHIBITED.test(out) || UNASSIGNED.test(out)) return password;
  const chars = [...out];
  if (chars.some((c) => RAND_AL.test(c))) {
    const first = chars[0] as string;
    const last = chars[chars.length - 1] as string;
    if (chars.some((c) => L_CAT.test(c) && !RAND_AL.test(c)) || !RAND_AL.test(first) || !RAND_AL.test(last))
      return password;
  }
  return out;
}

/** A parsed SCRAM-SHA-256 verifier. */
export interface ScramVerifier {
  iterations: number;
  salt: Buffer;
  storedKey: Buffer;
  serverKey: Buffer;
}

const SCRAM_RE = /^SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$/;

export function parseScram(stored: string): ScramVerifier | undefined {
  const m = SCRAM_RE.exec(stored);
  if (m === null) return undefined;
  const iterations = Number(m[1]);
  const salt = Buffer.from(m[2] as string, 'base64');
  const storedKey = Buffer.from(m[3] as string, 'base64');
  const serverKey = Buffer.from(m[4] as string, 'base64');
  if (!Number.isSafeInteger(iterations) || iterations <= 0 || storedKey.length !== 32 || serverKey.length !== 32)
    return undefined;
  return { iterations, salt, storedKey, serverKey };
}

/** StoredKey and ServerKey of a password for a salt and iteration count (RFC 5802 section 3). */
export function scramKeys(
  password: string,
  salt: Buffer,
  iterations: number,
): { storedKey: Buffer; serverKey: Buffer } {
  const salted = pbkdf2Sync(Buffer.from(saslprep(password), 'utf8'), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return { storedKey, serverKey };
}

/** Builds a SCRAM-SHA-256 verifier in PostgreSQL's text form. A random salt unless one is given (tests). */
export function scramVerifier(password: string, opts: { salt?: Buffer; iterations?: number } = {}): string {
  const salt = opts.salt ?? randomBytes(SALT_BYTES);
  const iterations = opts.iterations ?? SCRAM_ITERATIONS;
  const { storedKey, serverKey } = scramKeys(password, salt, iterations);
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

/** PostgreSQL's md5 verifier: 'md5' + hex md5 of the password followed by the role name. */
export function md5Verifier(password: string, role: string): string {
  return 'md5' + createHash('md5').update(password, 'utf8').update(role, 'utf8').digest('hex');
}

/** Which kind of verifier a stored rolpassword is. */
export function verifierMethod(stored: string | null): 'none' | 'scram-sha-256' | 'md5' | 'unknown' {
  if (stored === null || stored === '') return 'none';
  if (stored.startsWith('SCRAM-SHA-256$')) return parseScram(stored) === undefined ? 'unknown' : 'scram-sha-256';
  if (/^md5[0-9a-f]{32}$/.test(stored)) return 'md5';
  return 'unknown';
}

/**
 * Does `password` match the stored verifier of `role`? `undefined` when the verifier cannot be
 * checked (an unknown format, or more than 10 million iterations: a cost setpoint will not pay
 * every pass).
 */
export function verifyPassword(stored: string | null, password: string, role: string): boolean | undefined {
  const method = verifierMethod(stored);
  if (method === 'none') return false;
  if (method === 'md5') {
    const want = Buffer.from(md5Verifier(password, role), 'latin1');
    const have = Buffer.from(stored as string, 'latin1');
    return want.length === have.length && timingSafeEqual(want, have);
  }
  if (method === 'scram-sha-256') {
    const v = parseScram(stored as string) as ScramVerifier;
    if (v.iterations > 10_000_000) return undefined;
    const { storedKey, serverKey } = scramKeys(password, v.salt, v.iterations);
    return timingSafeEqual(storedKey, v.storedKey) && timingSafeEqual(serverKey, v.serverKey);
  }
  return undefined;
}
