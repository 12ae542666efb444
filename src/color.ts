/**
 * Colour on a terminal only: off for pipes and files, off with NO_COLOR (https://no-color.org), on with
 * FORCE_COLOR (any value but empty, `0` or `false`) even when piped. Used by `plan`, `apply` and the daemon's
 * readable log lines; JSON output never carries colour.
 */
export interface Paint {
  readonly enabled: boolean;
  red: (s: string) => string;
  green: (s: string) => string;
  yellow: (s: string) => string;
  cyan: (s: string) => string;
  bold: (s: string) => string;
  dim: (s: string) => string;
}

/** Whether text written to `stream` should be coloured, given the environment `env`. */
export function colorWanted(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  const no = env.NO_COLOR;
  if (no !== undefined && no !== '') return false;
  const force = env.FORCE_COLOR;
  if (force !== undefined && force !== '' && force !== '0' && force.toLowerCase() !== 'false') return true;
  if (env.TERM === 'dumb') return false;
  return stream.isTTY === true;
}

const sgr = (on: number, off: number) => (s: string) => `\u001b[${on}m${s}\u001b[${off}m`;
const same = (s: string) => s;

export function paint(enabled: boolean): Paint {
  if (!enabled) return { enabled, red: same, green: same, yellow: same, cyan: same, bold: same, dim: same };
  return {
    enabled,
    red: sgr(31, 39),
    green: sgr(32, 39),
    yellow: sgr(33, 39),
    cyan: sgr(36, 39),
    bold: sgr(1, 22),
    dim: sgr(2, 22),
  };
}

/** The paint for a stream (process.stdout by default). */
export function paintFor(stream: { isTTY?: boolean } = process.stdout, env: NodeJS.ProcessEnv = process.env): Paint {
  return paint(colorWanted(stream, env));
}
