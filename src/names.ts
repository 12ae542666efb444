/** Small helpers the engines share for names written in the file and for costly password checks. */
import { createHash } from 'node:crypto';

/**
 * Splits a dotted name as written in the file (`db.table`, `"my.schema"."T""x"`): a part inside
 * `quote` characters may hold dots, and a doubled quote stands for one. Returns the parts, or an
 * error message; each part says whether it was quoted (a quoted `*` is a name, not a wildcard).
 * `bare(part)` may reject a bare part (returning a message).
 */
export function splitDotted(
  text: string,
  quote: string,
  bare?: (part: string) => string | undefined,
): { part: string; quoted: boolean }[] | string {
  const parts: { part: string; quoted: boolean }[] = [];
  const s = text.trim();
  let i = 0;
  for (;;) {
    let part = '';
    const quoted = s[i] === quote;
    if (quoted) {
      let j = i + 1;
      for (;;) {
        if (j >= s.length) return `unterminated ${quote === '`' ? 'backquote' : 'double quote'} in "${text}"`;
        if (s[j] === quote) {
          if (s[j + 1] === quote) {
            part += quote;
            j += 2;
            continue;
          }
          break;
        }
        part += s[j];
        j++;
      }
      i = j + 1;
    } else {
      const j = s.indexOf('.', i);
      part = j === -1 ? s.slice(i) : s.slice(i, j);
      const problem = bare?.(part);
      if (problem !== undefined) return problem;
      i = j === -1 ? s.length : j;
    }
    parts.push({ part, quoted });
    if (i >= s.length) return parts;
    if (s[i] !== '.') return `expected "." after ${JSON.stringify(part)} in "${text}"`;
    i++;
  }
}

/**
 * Remembers the answers of a costly password check (SCRAM's 4096 rounds, caching_sha2's 5000) for
 * unchanged inputs, keyed by a hash of them, so a converged pass does not redo the work. Bounded.
 */
export function memoCheck<A extends (string | Buffer)[]>(
  check: (...args: A) => boolean | undefined,
): (...args: A) => boolean | undefined {
  const answers = new Map<string, boolean | undefined>();
  return (...args: A) => {
    const h = createHash('sha256');
    for (const a of args) h.update(a).update('\0');
    const key = h.digest('base64');
    if (answers.has(key)) return answers.get(key);
    const ok = check(...args);
    if (answers.size > 100_000) answers.clear();
    answers.set(key, ok);
    return ok;
  };
}

/** The candidate closest to `word` (case aside), when it is close enough to be a likely typo. */
export function suggest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestScore = Infinity;
  for (const c of candidates) {
    const d = distance(word.toLowerCase(), c.toLowerCase());
    if (d < bestScore) {
      bestScore = d;
      best = c;
    }
  }
  return best !== undefined && bestScore <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] ?? 0;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j] ?? 0;
      row[j] = Math.min((row[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length] ?? 0;
}
