/**
 * Managed files on a host (config fragments): content, mode and owner, observed by content hash so
 * a hand edit is drift; written atomically (temp file + rename) with the previous version kept.
 */
import { createHash } from 'node:crypto';
import type { Change, Drift, KindContext, ResourceKind } from '../../src/engine.js';
import { SetpointError } from '../../src/errors.js';
import { shq, type Shell } from '../../src/transport/ssh.js';

export interface FileWant {
  path: string;
  content: string;
  /** Octal, e.g. "0644". */
  mode: string;
  owner?: string;
  group?: string;
}

export interface FileState {
  path: string;
  exists: boolean;
  mode: string | null;
  owner: string | null;
  group: string | null;
  sha256: string | null;
}

/** Where the previous version of a managed file is kept. */
export const PREVIOUS_SUFFIX = '.setpoint-prev';

const sha = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');
const normMode = (m: string) => m.replace(/^0+(?=[0-7]{3})/, '').padStart(3, '0');

/** A resource kind for files one engine renders (e.g. its config fragment from declared settings). */
export function fileKind(kind: string, render: (ctx: KindContext) => FileWant | undefined): ResourceKind<FileWant, FileState, Shell> {
  return {
    kind,
    transport: 'ssh',
    desired(ctx) {
      const f = render(ctx);
      return f === undefined ? new Map() : new Map([[f.path, f]]);
    },
    probe(ctx) {
      // One line per file: "<path-index> missing" or "<path-index> <mode> <owner> <group> <sha256>".
      return [...this.desired(ctx).keys()]
        .map((path, i) => `f=${shq(path)}; if [ -f "$f" ]; then printf '%s %s %s\\n' ${i} "$(stat -c '%a %U %G' "$f")" "$(sha256sum < "$f" | cut -d' ' -f1)"; else echo ${i} missing; fi`)
        .join('\n') || 'true';
    },
    parse(out, ctx) {
      const paths = [...this.desired(ctx).keys()];
      const result = new Map<string, FileState>();
      const lines = new Map(out.stdout.split('\n').filter((l) => l !== '').map((l) => [l.split(' ')[0] ?? '', l.split(' ').slice(1)]));
      paths.forEach((path, i) => {
        const f = lines.get(String(i));
        if (f === undefined) throw new SetpointError('file.observe', `cannot read ${path} on ${ctx.hostName}`);
        if (f[0] === 'missing') result.set(path, { path, exists: false, mode: null, owner: null, group: null, sha256: null });
        else result.set(path, { path, exists: true, mode: f[0] ?? null, owner: f[1] ?? null, group: f[2] ?? null, sha256: f[3] ?? null });
      });
      return result;
    },
    async observe(shell, ctx) {
      const r = await shell.exec(this.probe?.(ctx) ?? 'true');
      return this.parse?.({ stdout: r.stdout, code: r.code ?? -1 }, ctx) ?? new Map();
    },
    diff(desired, observed) {
      const drift: Drift[] = [];
      for (const [id, want] of desired) {
        const have = observed.get(id);
        if (have === undefined || !have.exists) {
          drift.push({ kind, id, field: 'present', desired: true, observed: false });
          continue;
        }
        const wantSha = sha(want.content);
        if (have.sha256 !== wantSha) drift.push({ kind, id, field: 'content', desired: `sha256:${wantSha.slice(0, 12)}`, observed: `sha256:${(have.sha256 ?? '').slice(0, 12)} (edited by hand?)` });
        if (have.mode !== normMode(want.mode)) drift.push({ kind, id, field: 'mode', desired: normMode(want.mode), observed: have.mode });
        if (want.owner !== undefined && have.owner !== want.owner) drift.push({ kind, id, field: 'owner', desired: want.owner, observed: have.owner });
        if (want.group !== undefined && have.group !== want.group) drift.push({ kind, id, field: 'group', desired: want.group, observed: have.group });
      }
      return drift;
    },
    plan(drift, desired, observed) {
      const ids = [...new Set(drift.map((d) => d.id))];
      return ids.flatMap((id): Change[] => {
        const want = desired.get(id);
        if (want === undefined) return [];
        const existed = observed.get(id)?.exists === true;
        const chown = want.owner === undefined ? '' : ` && chown ${shq(want.group === undefined ? want.owner : `${want.owner}:${want.group}`)} "$t"`;
        const script = `set -e; f=${shq(want.path)}; t="$f.setpoint-tmp"; umask 077; cat > "$t"; chmod ${normMode(want.mode)} "$t"${chown}; if [ -e "$f" ]; then cp -p "$f" "$f${PREVIOUS_SUFFIX}"; fi; mv -f "$t" "$f"`;
        return [
          {
            kind, id, action: existed ? 'write' : 'create', risk: 'safe', phase: 40,
            summary: `${existed ? 'rewrite' : 'write'} ${want.path} (${Buffer.byteLength(want.content)} bytes, mode ${normMode(want.mode)})${existed ? `; previous kept as ${want.path}${PREVIOUS_SUFFIX}` : ''}`,
            statements: [],
            commands: [script],
            run: async (io) => {
              if (io.ssh === undefined) throw new SetpointError('ssh.unreachable', `no ssh connection to write ${want.path}`);
              const r = await io.ssh.exec(script, { stdin: want.content });
              if (r.code !== 0) throw new SetpointError('file.write', `writing ${want.path} failed (exit ${r.code ?? '?'}): ${r.stderr.trim().slice(0, 300)}`);
            },
          },
        ];
      });
    },
  };
}
