/**
 * The fast path of loading a file: js-yaml (about 15× quicker than composing a `yaml` Document with
 * positions on a 2,000-object file) with a schema that resolves plain scalars exactly as YAML 1.2's
 * core schema does, which is what the `yaml` package gives the slow path: no timestamps, no merge
 * keys, no `0b`/`_` numbers, `yes`/`on` stay strings. It answers undefined whenever the slow path
 * must decide instead: a syntax error, a duplicate key, an unknown tag, or anchors (js-yaml shares
 * aliased nodes without the `yaml` package's alias-count limit).
 */
import { FAILSAFE_SCHEMA, load, Type } from 'js-yaml';

const scalar = (tag: string, resolve: (s: string) => boolean, construct: (s: string) => unknown) =>
  new Type(`tag:yaml.org,2002:${tag}`, {
    kind: 'scalar',
    resolve: (data: unknown) => typeof data === 'string' && resolve(data),
    construct: (data: unknown) => construct(typeof data === 'string' ? data : ''),
  });

// YAML 1.2.2, 10.3.2 (the core schema's tag resolution).
const NULL = /^(?:~|null|Null|NULL|)$/;
const BOOL = /^(?:true|True|TRUE|false|False|FALSE)$/;
const INT10 = /^[-+]?[0-9]+$/;
const INT8 = /^0o[0-7]+$/;
const INT16 = /^0x[0-9a-fA-F]+$/;
const FLOAT = /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$/;
const INF = /^[-+]?(?:\.inf|\.Inf|\.INF)$/;
const NAN = /^(?:\.nan|\.NaN|\.NAN)$/;

// Most plain scalars are names: one look at the first character rules them out before any pattern.
const numberish = (s: string) => {
  const c = s.charCodeAt(0);
  return (c >= 48 && c <= 57) || c === 43 || c === 45 || c === 46; // 0-9 + - .
};

export const CORE_1_2 = FAILSAFE_SCHEMA.extend({
  implicit: [
    scalar(
      'null',
      (s) => s.length <= 4 && NULL.test(s),
      () => null,
    ),
    scalar(
      'bool',
      (s) => s.length <= 5 && BOOL.test(s),
      (s) => s.toLowerCase() === 'true',
    ),
    scalar(
      'int',
      (s) => numberish(s) && (INT10.test(s) || INT8.test(s) || INT16.test(s)),
      (s) => (INT8.test(s) ? parseInt(s.slice(2), 8) : INT16.test(s) ? parseInt(s.slice(2), 16) : Number(s)),
    ),
    scalar(
      'float',
      (s) => numberish(s) && (FLOAT.test(s) || INF.test(s) || NAN.test(s)),
      (s) => (NAN.test(s) ? NaN : INF.test(s) ? (s.startsWith('-') ? -Infinity : Infinity) : Number(s)),
    ),
  ],
});

// An anchor (`&name`) where a node may start; a false hit only sends the file down the slow path.
const ANCHOR = /(?:^|[\s[{,:-])&[^\s[\]{},]/m;

/** The file's data when the fast path can decide it alone; undefined when the slow path must. */
export function fastLoad(text: string): { data: unknown } | undefined {
  if (ANCHOR.test(text)) return undefined;
  try {
    return { data: load(text, { schema: CORE_1_2, json: false }) };
  } catch {
    return undefined;
  }
}
