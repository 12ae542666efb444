/** host.service: the database service is running (a stopped one is started: safe); restarts (disruptive). */
import { itemsOnly, type Change, type KindContext, type ResourceKind } from '../../src/engine.js';
import { SetpointError } from '../../src/errors.js';
import type { Shell } from '../../src/transport/ssh.js';

const KIND = 'host.service';

/**
 * Where host changes fall among an engine's phases (lower runs first within a step): a stopped
 * service is started before anything else; files are written after accounts and before settings;
 * a restart comes after every safe change.
 */
export const HOST_PHASE = { start: 1, files: 40, restart: 60 } as const;

/** How long a started or restarted server gets to answer SQL again. */
const COME_BACK_MS = 120_000;

export const service: ResourceKind<{ running: true }, { running: boolean }, Shell> = {
  kind: KIND,
  transport: 'ssh',
  desired(ctx) {
    return ctx.service === undefined ? new Map() : new Map([[ctx.hostName, { running: true as const }]]);
  },
  probe(ctx) {
    return ctx.service === undefined ? 'true' : `${ctx.service.status} >/dev/null 2>&1`;
  },
  parse(out, ctx) {
    return itemsOnly(ctx.service === undefined ? new Map() : new Map([[ctx.hostName, { running: out.code === 0 }]]));
  },
  async observe(shell, ctx) {
    const r = await shell.exec(this.probe?.(ctx) ?? 'true');
    return this.parse?.({ stdout: r.stdout, code: r.code ?? -1 }, ctx) ?? itemsOnly(new Map());
  },
  diff(desired, { items }) {
    const out = [];
    for (const [id] of desired)
      if (items.get(id)?.running === false)
        out.push({ kind: KIND, id, field: 'running', desired: true, observed: false });
    return out;
  },
  plan(drift, _desired, _observed, ctx) {
    const start = ctx.service?.start;
    if (start === undefined) return [];
    return drift.map((d): Change => ({
      kind: KIND,
      id: d.id,
      action: 'start',
      risk: 'safe',
      phase: HOST_PHASE.start,
      starts: true,
      summary: `start the database service on ${d.id}`,
      statements: [],
      commands: [start],
      run: async (io) => {
        if (io.ssh === undefined) throw new SetpointError('ssh.unreachable', `no ssh connection to ${d.id}`);
        const r = await io.ssh.exec(start, { timeoutMs: COME_BACK_MS });
        if (r.code !== 0)
          throw new SetpointError(
            'service.start',
            `start on ${d.id} exited ${r.code ?? r.signal ?? '?'}: ${(r.stderr || r.stdout).trim().slice(0, 300)}`,
          );
        await io.reconnect(COME_BACK_MS);
      },
    }));
  },
};

/**
 * A restart of the database service as a disruptive change: run the restart command over SSH, then
 * wait until the server answers SQL again. Waits (blocked) on hosts without ssh or service.
 */
export function restartChange(
  ctx: KindContext,
  c: { kind: string; id: string; summary: string; phase?: number; action?: string },
): Change {
  const restart = ctx.service?.restart;
  const blocked =
    ctx.ssh === undefined || ctx.service === undefined
      ? `a restart needs hosts.${ctx.hostName}.ssh and hosts.${ctx.hostName}.service (restart the server by hand meanwhile)`
      : restart === undefined
        ? `a restart needs a restart (or stop) command in hosts.${ctx.hostName}.service.commands (restart the server by hand meanwhile)`
        : undefined;
  return {
    kind: c.kind,
    id: c.id,
    action: c.action ?? 'restart',
    risk: 'disruptive',
    phase: c.phase ?? HOST_PHASE.restart,
    summary: c.summary,
    statements: [],
    ...(restart === undefined ? {} : { commands: [restart] }),
    ...(blocked === undefined ? {} : { blocked }),
    run: async (io) => {
      if (io.ssh === undefined || restart === undefined)
        throw new SetpointError('service.restart', blocked ?? 'cannot restart');
      const r = await io.ssh.exec(restart, { timeoutMs: COME_BACK_MS });
      if (r.code !== 0)
        throw new SetpointError(
          'service.restart',
          `restart on ${ctx.hostName} exited ${r.code ?? r.signal ?? '?'}: ${(r.stderr || r.stdout).trim().slice(0, 300)}`,
        );
      await io.reconnect(COME_BACK_MS);
    },
  };
}
