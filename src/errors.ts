/**
 * Errors carry a stable `code`, a `cause`, and say what, where and what to do.
 * `terminal` errors stop retries for a target until the file or the server changes;
 * every other error is transient and backs off.
 */
/**
 * Every error code setpoint gives, by area. Stable: history, conditions (their reasons) and scripts
 * reading `--json` output rely on them.
 */
export type ErrorCode =
  | 'spec.invalid'
  | 'spec.unreadable'
  | 'secret.missing'
  | 'secret.empty'
  | 'secret.unsafe'
  | 'secret.too_large'
  | 'secret.timeout'
  | 'history.missing'
  | 'history.too_new'
  | 'history.unusable'
  | 'sql.auth'
  | 'sql.privilege'
  | 'sql.rejected'
  | 'sql.unreachable'
  | 'sql.error'
  | 'ssh.unreachable'
  | 'ssh.timeout'
  | 'ssh.auth'
  | 'ssh.key'
  | 'ssh.hostkey'
  | 'ssh.exec'
  | 'ssh.probe'
  | 'ssh.quote'
  | 'service.start'
  | 'service.restart'
  | 'file.observe'
  | 'file.write'
  | 'file.unsafe'
  | 'file.rejected'
  | 'loop.no_progress'
  | 'cli.usage'
  | 'cli.listen';

export class SetpointError extends Error {
  /** Stable machine-readable code, e.g. `spec.invalid`, `sql.auth`. */
  readonly code: ErrorCode;
  /** True when retrying cannot help until a human changes something. Defaults to false. */
  readonly terminal: boolean;
  /** Process exit code when this error ends a CLI command. Defaults to 1. */
  readonly exitCode: number;

  constructor(code: ErrorCode, message: string, opts: { cause?: unknown; terminal?: boolean; exitCode?: number } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.terminal = opts.terminal ?? false;
    this.exitCode = opts.exitCode ?? 1;
  }
}

/** One problem in the desired-state file, located in the source. */
export interface SpecProblem {
  file: string;
  line: number;
  col: number;
  /** Dotted path in the document, e.g. `clusters.orders.users[2].host`. */
  path: string;
  message: string;
}

/** Formats a problem as `FILE:LINE:COL path: message`. */
export function formatProblem(p: SpecProblem): string {
  return `${p.file}:${p.line}:${p.col} ${p.path === '' ? '(document)' : p.path}: ${p.message}`;
}

/**
 * Problems as lines, the same problem at many places grouped: the first in full, then
 * `  and 1,999 more like this: users[1] (line 12), users[2] (line 16), ...`. A problem is "the same"
 * when its message is, and its path is but for list indexes.
 */
export function formatProblems(problems: readonly SpecProblem[], listed = 5): string[] {
  const groups = new Map<string, SpecProblem[]>();
  for (const p of problems) {
    const k = `${p.file}\0${p.path.replace(/\[\d+\]/g, '[]')}\0${p.message}`;
    const g = groups.get(k);
    if (g === undefined) groups.set(k, [p]);
    else g.push(p);
  }
  const out: string[] = [];
  for (const g of groups.values()) {
    const [first, ...rest] = g;
    if (first === undefined) continue;
    if (rest.length <= 2) {
      out.push(...g.map(formatProblem));
      continue;
    }
    const where = rest.slice(0, listed).map((p) => `${p.path} (line ${p.line})`);
    out.push(
      formatProblem(first),
      `  and ${rest.length.toLocaleString('en-US')} more like this: ${where.join(', ')}${rest.length > listed ? ', ...' : ''}`,
    );
  }
  return out;
}

/** The desired-state file was rejected; `problems` lists every problem found, not only the first. */
export class SpecError extends SetpointError {
  readonly problems: SpecProblem[];
  constructor(problems: SpecProblem[]) {
    super('spec.invalid', formatProblems(problems).join('\n'), { terminal: true });
    this.problems = problems;
  }
}

/** Returns the message of any thrown value, without stack. */
export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
