/**
 * Managed files on a host (config fragments): content, mode and owner, observed by content hash so
 * a hand edit is drift; written atomically (temp file + rename) with the previous version kept.
 */
import { createHash } from 'node:crypto';
import { itemsOnly, type Change, type Drift, type KindContext, type ResourceKind } from '../../src/engine.js';
import { SetpointError } from '../../src/errors.js';
import { shq, type Shell } from '../../src/transport/ssh.js';
import { HOST_PHASE } from './services.js';

export interface FileWant {
  path: string;
  content: string;
  /** Octal, e.g. "0644". */
  mode: string;
  owner?: string;
  group?: string;
  /**
   * Write through the path when it is a symbolic link (to the file it points to). Defaults to false:
   * a link at a managed path is refused, and the target is Stalled until a human looks.
   */
  followSymlink?: boolean;
  /**
   * A shell snippet that checks the candidate file "$t" before it replaces the managed one (e.g. the
   * server parsing it); a non-zero exit refuses the write, and what it printed on stderr says why.
   */
  validate?: string;
  /** Where the file is declared, as a path from the cluster (for located messages). */
  at?: (string | number)[];
}

export interface FileState {
  path: string;
  exists: boolean;
  /** `link`: a symbolic link not followed; `other`: a directory, device or FIFO. A regular file when omitted. */
  type?: 'link' | 'other';
  mode: string | null;
  owner: string | null;
  group: string | null;
  sha256: string | null;
}

/** Where the previous version of a managed file is kept. */
export const PREVIOUS_SUFFIX = '.setpoint-prev';

const sha = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');
const normMode = (m: string) => m.replace(/^0+(?=[0-7]{3})/, '').padStart(3, '0');

/**
 * The script that writes a managed file from stdin. Nothing is written through a name an attacker
 * could have planted: the content goes to a fresh temporary file made by mktemp (O_EXCL) in the same
 * directory, is checked, then renamed over the path (rename replaces a link, it never follows one);
 * the previous version is copied the same way and renamed to `<path>.setpoint-prev`. `mv -T` refuses
 * a directory in either place. A link at the path itself is refused unless declared.
 */
export function writeScript(want: FileWant): string {
  const chown =
    want.owner === undefined
      ? ''
      : `chown -- ${shq(want.group === undefined ? want.owner : `${want.owner}:${want.group}`)} "$t"; `;
  const resolve =
    want.followSymlink === true
      ? 'if [ -L "$f" ]; then f=$(readlink -f -- "$f"); fi; '
      : 'if [ -L "$f" ]; then echo "$f is a symbolic link: setpoint does not write through links" >&2; exit 3; fi; ';
  const check =
    want.validate === undefined
      ? ''
      : `if ! e=$( { ${want.validate}
} 2>&1 >/dev/null ); then printf '%s\\n' "$e" >&2; exit 4; fi; `;
  return (
    `set -e; umask 077; f=${shq(want.path)}; ${resolve}` +
    'if [ -e "$f" ] && [ ! -f "$f" ]; then echo "$f exists and is not a regular file" >&2; exit 3; fi; ' +
    'd=$(dirname -- "$f"); t=$(mktemp -- "$d/.setpoint.XXXXXXXX"); p=; trap \'rm -f -- "$t" ${p:+"$p"}\' EXIT; ' +
    `cat > "$t"; ${check}chmod ${normMode(want.mode)} -- "$t"; ${chown}` +
    `if [ -f "$f" ]; then p=$(mktemp -- "$d/.setpoint.XXXXXXXX"); cp -p -- "$f" "$p"; mv -fT -- "$p" "$f${PREVIOUS_SUFFIX}"; p=; fi; ` +
    'mv -fT -- "$t" "$f"; trap - EXIT'
  );
}

/** A resource kind for files one engine renders (e.g. its config fragment from declared settings). */
export function fileKind<Ctx extends KindContext>(
  kind: string,
  render: (ctx: Ctx) => FileWant | undefined,
  needs: ResourceKind['needs'] = [],
): ResourceKind<FileWant, FileState, Shell, Ctx> {
  return {
    kind,
    transport: 'ssh',
    needs,
    desired(ctx) {
      const f = render(ctx);
      return f === undefined ? new Map() : new Map([[f.path, f]]);
    },
    probe(ctx) {
      // One line per file: "<i> missing", "<i> link", "<i> other" or "<i> <mode> <owner> <group> <sha256>".
      return (
        [...this.desired(ctx).values()]
          .map(
            (want, i) =>
              `f=${shq(want.path)}; if [ -L "$f" ] && [ ${want.followSymlink === true ? 1 : 0} = 0 ]; then echo ${i} link; ` +
              `elif [ -f "$f" ]; then printf '%s %s %s\\n' ${i} "$(stat -L -c '%a %U %G' -- "$f")" "$(sha256sum < "$f" | cut -d' ' -f1)"; ` +
              `elif [ -e "$f" ]; then echo ${i} other; else echo ${i} missing; fi`,
          )
          .join('\n') || 'true'
      );
    },
    parse(out, ctx) {
      const paths = [...this.desired(ctx).keys()];
      const result = new Map<string, FileState>();
      const lines = new Map(
        out.stdout
          .split('\n')
          .filter((l) => l !== '')
          .map((l) => [l.split(' ')[0] ?? '', l.split(' ').slice(1)]),
      );
      paths.forEach((path, i) => {
        const f = lines.get(String(i));
        if (f === undefined) throw new SetpointError('file.observe', `cannot read ${path} on ${ctx.hostName}`);
        const none = { path, mode: null, owner: null, group: null, sha256: null };
        if (f[0] === 'missing') result.set(path, { ...none, exists: false });
        else if (f[0] === 'link' || f[0] === 'other') result.set(path, { ...none, exists: true, type: f[0] });
        else
          result.set(path, {
            path,
            exists: true,
            mode: f[0] ?? null,
            owner: f[1] ?? null,
            group: f[2] ?? null,
            sha256: f[3] ?? null,
          });
      });
      return itemsOnly(result);
    },
    async observe(shell, ctx) {
      const r = await shell.exec(this.probe?.(ctx) ?? 'true');
      return this.parse?.({ stdout: r.stdout, code: r.code ?? -1 }, ctx) ?? itemsOnly(new Map());
    },
    diff(desired, { items: observed }) {
      const drift: Drift[] = [];
      for (const [id, want] of desired) {
        const have = observed.get(id);
        if (have === undefined || !have.exists) {
          drift.push({ kind, id, field: 'present', desired: true, observed: false });
          continue;
        }
        if (have.type !== undefined) {
          drift.push({
            kind,
            id,
            field: 'type',
            desired: 'a regular file',
            observed: have.type === 'link' ? 'a symbolic link' : 'not a regular file',
          });
          continue;
        }
        const wantSha = sha(want.content);
        if (have.sha256 !== wantSha)
          drift.push({
            kind,
            id,
            field: 'content',
            desired: `sha256:${wantSha.slice(0, 12)}`,
            observed: `sha256:${(have.sha256 ?? '').slice(0, 12)} (edited by hand?)`,
          });
        if (have.mode !== normMode(want.mode))
          drift.push({ kind, id, field: 'mode', desired: normMode(want.mode), observed: have.mode });
        if (want.owner !== undefined && have.owner !== want.owner)
          drift.push({ kind, id, field: 'owner', desired: want.owner, observed: have.owner });
        if (want.group !== undefined && have.group !== want.group)
          drift.push({ kind, id, field: 'group', desired: want.group, observed: have.group });
      }
      return drift;
    },
    plan(drift, desired, { items: observed }, ctx) {
      const ids = [...new Set(drift.map((d) => d.id))];
      return ids.flatMap((id): Change[] => {
        const want = desired.get(id);
        if (want === undefined) return [];
        const have = observed.get(id);
        const at = want.at === undefined ? {} : { at: want.at };
        if (have?.type !== undefined) {
          const link = have.type === 'link';
          return [
            {
              kind,
              id,
              action: 'write',
              risk: 'safe',
              phase: HOST_PHASE.files,
              statements: [],
              ...at,
              summary: `write ${want.path}`,
              blocked: link
                ? `${want.path} is a symbolic link on ${ctx.hostName}: setpoint does not write through links (remove the link, or declare followSymlink: true)`
                : `${want.path} exists on ${ctx.hostName} and is not a regular file`,
              needsHuman: link ? 'ManagedPathIsSymlink' : 'ManagedPathNotAFile',
            },
          ];
        }
        const existed = have?.exists === true;
        const script = writeScript(want);
        return [
          {
            kind,
            id,
            action: existed ? 'write' : 'create',
            risk: 'safe',
            phase: HOST_PHASE.files,
            summary: `${existed ? 'rewrite' : 'write'} ${want.path} (${Buffer.byteLength(want.content)} bytes, mode ${normMode(want.mode)})${existed ? `; previous kept as ${want.path}${PREVIOUS_SUFFIX}` : ''}`,
            statements: [],
            commands: [script],
            run: async (io) => {
              if (io.ssh === undefined)
                throw new SetpointError('ssh.unreachable', `no ssh connection to write ${want.path}`);
              const r = await io.ssh.exec(script, { stdin: want.content });
              const why = r.stderr.trim().slice(0, 600);
              if (r.code === 3)
                throw new SetpointError('file.unsafe', `not writing ${want.path}: ${why}`, { terminal: true });
              if (r.code === 4)
                throw new SetpointError(
                  'file.rejected',
                  `not writing ${want.path}: the server would refuse it: ${why}`,
                  { terminal: true },
                );
              if (r.code !== 0)
                throw new SetpointError('file.write', `writing ${want.path} failed (exit ${r.code ?? '?'}): ${why}`);
            },
          },
        ];
      });
    },
  };
}
