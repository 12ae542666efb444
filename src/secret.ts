import { readFileSync } from 'node:fs';
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

/**
 * Reads a secret. A file's value is its content with one trailing newline removed.
 * Errors name the reference, never a value. Secrets are read at each use, so fixing a secret file
 * takes effect at the next pass without reloading the desired-state file.
 */
export function resolveSecret(ref: SecretRef): Secret {
  if ('env' in ref) {
    const v = process.env[ref.env];
    if (v === undefined) {
      throw new SetpointError('secret.missing', `secret env:${ref.env} is not set in the environment`, { terminal: true });
    }
    return new Secret(v, describeRef(ref));
  }
  let text: string;
  try {
    text = readFileSync(ref.file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new SetpointError('secret.missing', `secret file:${ref.file} cannot be read (${code})`, { terminal: true, cause: err });
  }
  return new Secret(text.replace(/\r?\n$/, ''), describeRef(ref));
}

/**
 * Reads secrets for one pass: each reference is read once, however many users or roles share it
 * (a file read costs more than the rest of one account's diff).
 */
export function secretReader(): (ref: SecretRef) => string {
  const seen = new Map<string, string>();
  return (ref) => {
    const k = describeRef(ref);
    let v = seen.get(k);
    if (v === undefined) seen.set(k, (v = resolveSecret(ref).reveal()));
    return v;
  };
}

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
  const values = revealed.filter((v) => v.length > 0).flatMap((v) => [v, v.replace(/\\/g, '\\\\').replace(/'/g, "\\'"), v.replace(/'/g, "''")]);
  const clean = (text: string) => values.reduce((t, v) => t.split(v).join('[secret]'), text);
  const e = err as Record<string, unknown>;
  for (const k of ['message', 'sqlMessage', 'detail', 'hint', 'where']) if (typeof e[k] === 'string') e[k] = clean(e[k]);
  if ('sql' in e) delete e.sql;
  if ('query' in e) delete e.query;
  return err;
}
