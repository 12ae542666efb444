/** A line diff of two texts (Myers' O(ND) algorithm) and its unified form, for `setpoint diff`. Pure. */

/** One line of a diff: kept (' '), removed ('-') or added ('+'). */
export interface DiffLine {
  op: ' ' | '-' | '+';
  text: string;
  /** Line numbers in the old and the new text (1-based); 0 where the line is not in that text. */
  a: number;
  b: number;
}

function lines(text: string): string[] {
  const out = text.split('\n');
  if (out.length > 0 && out[out.length - 1] === '') out.pop();
  return out;
}

/** Every line of `a` and `b` in order, marked kept, removed or added: a shortest edit script. */
export function diffLines(aText: string, bText: string): DiffLine[] {
  const a = lines(aText);
  const b = lines(bText);
  // Common head and tail first: edits of a large file are usually small.
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const x0 = a.slice(head, a.length - tail);
  const y0 = b.slice(head, b.length - tail);
  const n = x0.length;
  const m = y0.length;
  const max = n + m;
  const v = new Int32Array(2 * max + 2);
  const trace: Int32Array[] = [];
  let done = n === 0 && m === 0;
  for (let d = 0; d <= max && !done; d++) {
    trace.push(v.slice());
    for (let k = -d; k <= d; k += 2) {
      let x =
        k === -d || (k !== d && (v[max + k - 1] as number) < (v[max + k + 1] as number))
          ? (v[max + k + 1] as number)
          : (v[max + k - 1] as number) + 1;
      let y = x - k;
      while (x < n && y < m && x0[x] === y0[y]) {
        x++;
        y++;
      }
      v[max + k] = x;
      if (x >= n && y >= m) {
        done = true;
        break;
      }
    }
  }
  // Walk the trace back from the end to find the edit script.
  const middle: DiffLine[] = [];
  let x = n;
  let y = m;
  for (let d = trace.length - 1; d >= 0 && (x > 0 || y > 0); d--) {
    const vd = trace[d] as Int32Array;
    const k = x - y;
    const prevK = k === -d || (k !== d && (vd[max + k - 1] as number) < (vd[max + k + 1] as number)) ? k + 1 : k - 1;
    const prevX = d === 0 ? 0 : (vd[max + prevK] as number);
    const prevY = prevX - prevK;
    while (x > prevX && y > prevY && x > 0 && y > 0) {
      x--;
      y--;
      middle.push({ op: ' ', text: x0[x] as string, a: 0, b: 0 });
    }
    if (d > 0) {
      if (x === prevX) {
        y--;
        middle.push({ op: '+', text: y0[y] as string, a: 0, b: 0 });
      } else {
        x--;
        middle.push({ op: '-', text: x0[x] as string, a: 0, b: 0 });
      }
    }
  }
  middle.reverse();
  const all: DiffLine[] = [
    ...a.slice(0, head).map((text) => ({ op: ' ' as const, text, a: 0, b: 0 })),
    ...middle,
    ...a.slice(a.length - tail).map((text) => ({ op: ' ' as const, text, a: 0, b: 0 })),
  ];
  let ai = 0;
  let bi = 0;
  for (const l of all) {
    if (l.op !== '+') l.a = ++ai;
    if (l.op !== '-') l.b = ++bi;
  }
  return all;
}

/** The unified diff (`@@ -a,n +b,m @@` hunks with `context` lines around each change); empty when equal. */
export function unifiedDiff(diff: readonly DiffLine[], context = 3): string[] {
  const out: string[] = [];
  const changed = diff.map((l, i) => (l.op === ' ' ? -1 : i)).filter((i) => i >= 0);
  if (changed.length === 0) return out;
  let i = 0;
  while (i < changed.length) {
    const start = Math.max(0, (changed[i] as number) - context);
    let end = Math.min(diff.length - 1, (changed[i] as number) + context);
    while (i + 1 < changed.length && (changed[i + 1] as number) - context <= end + 1) {
      i++;
      end = Math.min(diff.length - 1, (changed[i] as number) + context);
    }
    i++;
    const hunk = diff.slice(start, end + 1);
    const aLines = hunk.filter((l) => l.op !== '+');
    const bLines = hunk.filter((l) => l.op !== '-');
    const aStart = aLines.length > 0 ? (aLines[0] as DiffLine).a : 0;
    const bStart = bLines.length > 0 ? (bLines[0] as DiffLine).b : 0;
    // An empty side starts after the line it follows, as diff -u writes it.
    const aFrom = aLines.length > 0 ? aStart : lastBefore(diff, start, 'a');
    const bFrom = bLines.length > 0 ? bStart : lastBefore(diff, start, 'b');
    out.push(`@@ -${aFrom},${aLines.length} +${bFrom},${bLines.length} @@`);
    for (const l of hunk) out.push(`${l.op}${l.text}`);
  }
  return out;
}

function lastBefore(diff: readonly DiffLine[], index: number, side: 'a' | 'b'): number {
  for (let j = index - 1; j >= 0; j--) {
    const n = (diff[j] as DiffLine)[side];
    if (n > 0) return n;
  }
  return 0;
}
