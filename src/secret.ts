import { createHmac, randomBytes } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { inspect } from 'node:util';
import { SetpointError } from './errors.js';

/** A reference to a secret as written in the file: `{ env: NAME }` or `{ file: PATH }`. */
export type SecretRef = { env: string } | { file: string };

/** Describes a reference without its value, e.g. `env:ORDERS_APP_PASSWORD`. */
export function describeRef(ref: SecretRef): string {
  return 'env' in ref ? `env:${ref.env}` : `file:${ref.file}`;
}

const REDACTED = '[secret]';

/**
 * A secret value that never prints itself: `String()`, `JSON.stringify()` and `util.inspect()` all
 * give a placeholder. Only `reveal()` gives the value, and only code that sends it to a server
 * (or compares it with a verifier) calls it.
 */
export class Secret {
  readonly #value: string;
  /** Where the value came from, safe to print. */
  readonly source: string;
  constructor(value: string, source: string) {
    this.#value = value;
    this.source = source;
  }
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return REDACTED;
  }
  toJSON(): string {
    return REDACTED;
  }
  [inspect.custom](): string {
    return `Secret(${this.source})`;
  }
}

/** A secret longer than this is refused: no password is 64 KiB, and a device or a runaway file must not be read forever. */
export const MAX_SECRET_BYTES = 64 * 1024;

/** How long a secret file may take to read before the read is abandoned (a hung network file system). */
export const SECRET_READ_TIMEOUT_MS = 5000;

function who(): string {
  try {
    const u = userInfo();
    return `user ${u.username} (uid ${u.uid})`;
  } catch {
    return `uid ${process.getuid?.() ?? '?'}`;
  }
}

function unreadable(ref: { file: string }, err: unknown): SetpointError {
  const code = (err as NodeJS.ErrnoException).code ?? 'error';
  const by =
    code === 'EACCES' || code === 'EPERM'
      ? ` by ${who()}: give that user read access (e.g. group setpoint, mode 0640)`
      : '';
  return new SetpointError('secret.missing', `secret file:${ref.file} cannot be read (${code})${by}`, {
    terminal: true,
    cause: err,
  });
}

function notRegular(ref: { file: string }, st: Stats): SetpointError {
  const what = st.isFIFO()
    ? 'a FIFO'
    : st.isCharacterDevice() || st.isBlockDevice()
      ? 'a device'
      : st.isDirectory()
        ? 'a directory'
        : st.isSocket()
          ? 'a socket'
          : 'not a regular file';
  return new SetpointError(
    'secret.unsafe',
    `secret file:${ref.file} is ${what}: secrets are read from regular files only`,
    { terminal: true },
  );
}

function tooLarge(ref: { file: string }): SetpointError {
  return new SetpointError(
    'secret.too_large',
    `secret file:${ref.file} is larger than ${MAX_SECRET_BYTES / 1024} KiB: it cannot be a password (wrong file?)`,
    { terminal: true },
  );
}

/**
 * The secret a text holds: one trailing newline removed. An empty value (or only white space) is
 * refused: an empty password would let anyone log in as the account, and PostgreSQL clears it.
 */
function secretOf(text: string, ref: SecretRef): Secret {
  const value = text.replace(/\r?\n$/, '');
  if (value.trim() === '') {
    const what =
      'env' in ref
        ? `env:${ref.env} is set but empty`
        : `file:${ref.file} is empty${value === '' && text !== '' ? ' (only a newline)' : ''}`;
    throw new SetpointError(
      'secret.empty',
      `secret ${what}: an empty secret is never used as a password (write the password into it)`,
      { terminal: true },
    );
  }
  return new Secret(value, describeRef(ref));
}

function fromEnv(ref: { env: string }): Secret {
  const v = process.env[ref.env];
  if (v === undefined)
    throw new SetpointError('secret.missing', `secret env:${ref.env} is not set in the environment`, {
      terminal: true,
    });
  return secretOf(v, ref);
}

// O_NONBLOCK: opening a FIFO with no writer must not block; a FIFO or device is then refused by fstat.
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY;

/**
 * Reads a secret now, synchronously: environment variables, or regular files of at most
 * MAX_SECRET_BYTES (a FIFO, device or directory is refused without being read). For checking a file
 * at load time; a pass reads its secrets with `readSecret`, off the event loop.
 * Errors name the reference, never a value.
 */
export function resolveSecret(ref: SecretRef): Secret {
  if ('env' in ref) return fromEnv(ref);
  let fd: number;
  try {
    fd = openSync(ref.file, OPEN_FLAGS);
  } catch (err) {
    throw unreadable(ref, err);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw notRegular(ref, st);
    if (st.size > MAX_SECRET_BYTES) throw tooLarge(ref);
    const buf = Buffer.alloc(MAX_SECRET_BYTES + 1);
    let n = 0;
    for (let r = -1; r !== 0 && n < buf.length; n += r) r = readSync(fd, buf, n, buf.length - n, null);
    if (n > MAX_SECRET_BYTES) throw tooLarge(ref);
    return secretOf(buf.toString('utf8', 0, n), ref);
  } catch (err) {
    throw err instanceof SetpointError ? err : unreadable(ref, err);
  } finally {
    closeSync(fd);
  }
}

/** Reads a secret without blocking the event loop: the same checks as `resolveSecret`, and a timeout. */
export async function readSecret(ref: SecretRef, timeoutMs = SECRET_READ_TIMEOUT_MS): Promise<Secret> {
  if ('env' in ref) return fromEnv(ref);
  const read = (async () => {
    let h: FileHandle;
    try {
      h = await open(ref.file, OPEN_FLAGS);
    } catch (err) {
      throw unreadable(ref, err);
    }
    try {
      const st = await h.stat();
      if (!st.isFile()) throw notRegular(ref, st);
      if (st.size > MAX_SECRET_BYTES) throw tooLarge(ref);
      const buf = Buffer.alloc(MAX_SECRET_BYTES + 1);
      let n = 0;
      for (let r = -1; r !== 0 && n < buf.length; n += r) r = (await h.read(buf, n, buf.length - n, null)).bytesRead;
      if (n > MAX_SECRET_BYTES) throw tooLarge(ref);
      return secretOf(buf.toString('utf8', 0, n), ref);
    } catch (err) {
      throw err instanceof SetpointError ? err : unreadable(ref, err);
    } finally {
      await h.close();
    }
  })();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, fail) => {
    timer = setTimeout(
      () =>
        fail(
          new SetpointError(
            'secret.timeout',
            `secret file:${ref.file} did not answer within ${timeoutMs / 1000} s (a hung file system?)`,
          ),
        ),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([read, late]);
  } finally {
    clearTimeout(timer);
    read.catch(() => undefined);
  }
}

/** True for `{ env: NAME }` and `{ file: PATH }` as the schema leaves them. */
export function isSecretRef(v: unknown): v is SecretRef {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const keys = Object.keys(v);
  return (
    keys.length === 1 &&
    (keys[0] === 'env' || keys[0] === 'file') &&
    typeof (v as Record<string, unknown>)[keys[0]] === 'string'
  );
}

/** Every secret reference in a value (a spec, a cluster), each with its path, in document order. */
export function secretRefs(
  v: unknown,
  path: (string | number)[] = [],
): { ref: SecretRef; path: (string | number)[] }[] {
  if (isSecretRef(v)) return [{ ref: v, path }];
  if (Array.isArray(v)) return v.flatMap((x, i) => secretRefs(x, [...path, i]));
  if (v !== null && typeof v === 'object') return Object.entries(v).flatMap(([k, x]) => secretRefs(x, [...path, k]));
  return [];
}

const refsOf = new WeakMap<object, SecretRef[]>();

/**
 * The distinct secret references of a loaded cluster (or spec), worked out once per object: a pass
 * reads them every time, and walking a 10,000-user cluster for them cost more than reading the files.
 * Loaded specs are never changed in place (a reload makes new objects).
 */
export function secretRefsOnce(v: object): SecretRef[] {
  let refs = refsOf.get(v);
  if (refs === undefined) {
    const seen = new Set<string>();
    refs = [];
    for (const { ref } of secretRefs(v)) {
      const key = 'file' in ref ? `f\0${ref.file}` : `e\0${ref.env}`;
      if (seen.has(key)) continue;
      seen.add(key);
      refs.push(ref);
    }
    refsOf.set(v, refs);
  }
  return refs;
}

/**
 * The secrets of one pass, read before anything is decided, so that diff() and plan() never do I/O:
 * each reference read once (off the event loop), however many accounts share it. A reference that
 * could not be read throws its error where it is used.
 */
export class Secrets {
  private constructor(private readonly values: Map<string, Secret | SetpointError>) {}

  /** Reads every reference (duplicates once). */
  static async read(refs: readonly SecretRef[]): Promise<Secrets> {
    const unique = new Map(refs.map((r) => [describeRef(r), r]));
    const values = new Map<string, Secret | SetpointError>();
    await Promise.all(
      [...unique].map(async ([k, r]) => {
        try {
          values.set(k, await readSecret(r));
        } catch (err) {
          values.set(
            k,
            err instanceof SetpointError
              ? err
              : new SetpointError('secret.missing', `secret ${k} cannot be read`, { terminal: true, cause: err }),
          );
        }
      }),
    );
    return new Secrets(values);
  }

  /** Secrets resolved now, synchronously (tests, and callers outside a pass). */
  static now(refs: readonly SecretRef[]): Secrets {
    const values = new Map<string, Secret | SetpointError>();
    for (const r of refs) {
      try {
        values.set(describeRef(r), resolveSecret(r));
      } catch (err) {
        values.set(describeRef(r), err as SetpointError);
      }
    }
    return new Secrets(values);
  }

  /** The secret a reference names; throws the error that reading it gave. */
  get(ref: SecretRef): Secret {
    const v = this.values.get(describeRef(ref)) ?? Secrets.now([ref]).values.get(describeRef(ref));
    if (v instanceof Secret) return v;
    throw v ?? new SetpointError('secret.missing', `secret ${describeRef(ref)} was not read`, { terminal: true });
  }

  /**
   * A digest of every value read, keyed with a random per-process key (nothing about a value can be
   * learned from it): it changes when any secret does, so a rotation is not mistaken for a repair.
   */
  digest(): string {
    const h = createHmac('sha256', DIGEST_KEY);
    for (const k of [...this.values.keys()].sort()) {
      const v = this.values.get(k);
      h.update(`${k}\0${v instanceof Secret ? v.reveal() : `!${v?.code ?? ''}`}\0`);
    }
    return h.digest('hex').slice(0, 16);
  }
}

const DIGEST_KEY = randomBytes(32);

/**
 * A value kept in memory to compare, never printed or written: a stored password verifier read from
 * a server. `String()`, `JSON.stringify()` and `util.inspect()` give a placeholder.
 */
export class Verifier<T extends string | Buffer = string | Buffer> {
  constructor(readonly value: T) {}
  toJSON(): string {
    return '[verifier]';
  }
  toString(): string {
    return '[verifier]';
  }
  [inspect.custom](): string {
    return 'Verifier([redacted])';
  }
}

/**
 * Removes secret values from a driver's error before it is logged or recorded: some drivers format
 * parameters into the statement and quote it back in the error (MySQL's "near 'BY 'x''", mysql2's
 * `err.sql`). Every revealed value, and its backslash-escaped form, becomes `[secret]`.
 */
export function redactError(err: unknown, revealed: readonly string[]): unknown {
  if (revealed.length === 0 || err === null || typeof err !== 'object') return err;
  const values = revealed
    .filter((v) => v.length > 0)
    .flatMap((v) => [v, v.replace(/\\/g, '\\\\').replace(/'/g, "\\'"), v.replace(/'/g, "''")]);
  const clean = (text: string) => values.reduce((t, v) => t.split(v).join('[secret]'), text);
  const e = err as Record<string, unknown>;
  for (const k of ['message', 'sqlMessage', 'detail', 'hint', 'where'])
    if (typeof e[k] === 'string') e[k] = clean(e[k]);
  if ('sql' in e) delete e.sql;
  if ('query' in e) delete e.query;
  return err;
}
