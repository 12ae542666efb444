/**
 * The observe stage of a pass (I/O only): every kind of the target's engine observed once, in the
 * order their `needs` give, SSH kinds in one command; what cannot be observed is missing, never empty.
 */
import { randomBytes } from 'node:crypto';
import type { AnyKind, KindContext, Observation, Session } from '../engine.js';
import { SetpointError } from '../errors.js';
import type { SshSession } from '../transport/ssh.js';

/** One round of observation of a target. */
export interface Round {
  /** What each kind observed, in observation order. */
  observations: Map<AnyKind, Observation<unknown, unknown>>;
  /** Kinds that could not be observed (their connection is down). */
  missing: string[];
  /** The host (SSH) part came from the daemon's cache rather than a fresh probe. */
  fromCache: boolean;
}

/** The daemon's last SSH observation of each target, by kind name. */
export type ProbeCache = Map<string, { at: number; results: Map<string, Observation<unknown, unknown>> }>;

/**
 * The kinds in the order they are observed: each after the kinds it `needs` (a stable topological
 * order of the engine's list, so the list's own order does not matter). A cycle is a programming error.
 */
export function observationOrder(kinds: readonly AnyKind[]): AnyKind[] {
  const out: AnyKind[] = [];
  const state = new Map<AnyKind, 'visiting' | 'done'>();
  const visit = (k: AnyKind, path: string[]) => {
    const s = state.get(k);
    if (s === 'done') return;
    if (s === 'visiting')
      throw new Error(`resource kinds need each other in a cycle: ${[...path, k.kind].join(' -> ')}`);
    state.set(k, 'visiting');
    for (const n of k.needs ?? []) visit(n, [...path, k.kind]);
    state.set(k, 'done');
    out.push(k);
  };
  for (const k of kinds) visit(k, []);
  return out;
}

const orders = new WeakMap<readonly AnyKind[], AnyKind[]>();
function ordered(kinds: readonly AnyKind[]): AnyKind[] {
  let o = orders.get(kinds);
  if (o === undefined) orders.set(kinds, (o = observationOrder(kinds)));
  return o;
}

export interface RoundInput {
  kinds: readonly AnyKind[];
  sql: Session | undefined;
  ssh: SshSession | undefined;
  /** The host declares ssh (its SSH kinds are missing, not skipped, when it is down). */
  sshDeclared: boolean;
  /** Builds the kinds' context over the round being filled (ctx.observation reads it). */
  context: (observations: Map<AnyKind, Observation<unknown, unknown>>) => KindContext;
  /** A recent SSH observation to reuse instead of probing, when the caller allows it. */
  cached?: Map<string, Observation<unknown, unknown>> | undefined;
}

/** Observes every kind once. Returns the round and the context built over it. */
export async function observeRound(input: RoundInput): Promise<{ round: Round; ctx: KindContext }> {
  const observations = new Map<AnyKind, Observation<unknown, unknown>>();
  const ctx = input.context(observations);
  const missing: string[] = [];
  const kinds = ordered(input.kinds);
  let fromCache = false;
  if (input.ssh !== undefined) {
    if (input.cached !== undefined) {
      for (const k of kinds) {
        const o = input.cached.get(k.kind);
        if (o !== undefined) observations.set(k, o);
      }
      fromCache = true;
    } else {
      for (const [k, o] of await probeAll(input.ssh, kinds, ctx)) observations.set(k, o);
    }
  }
  for (const kind of kinds) {
    if (observations.has(kind)) continue;
    const transport = kind.transport ?? 'sql';
    if (transport === 'ssh' && !input.sshDeclared) continue;
    const session = transport === 'ssh' ? input.ssh : input.sql;
    if (session === undefined) {
      missing.push(kind.kind);
      continue;
    }
    observations.set(kind, (await kind.observe(session, ctx)) as Observation<unknown, unknown>);
  }
  return { round: { observations, missing, fromCache }, ctx };
}

/** The SSH part of a round, by kind name, for the probe cache. */
export function sshPart(round: Round): Map<string, Observation<unknown, unknown>> {
  return new Map([...round.observations].filter(([k]) => k.transport === 'ssh').map(([k, o]) => [k.kind, o]));
}

/**
 * Runs every probing ssh kind's snippet in one command, each in a subshell between markers that carry
 * a random nonce (so no output can forge one), and hands each kind its own output and exit code.
 */
async function probeAll(
  ssh: SshSession,
  kinds: readonly AnyKind[],
  ctx: KindContext,
): Promise<Map<AnyKind, Observation<unknown, unknown>>> {
  const probing = kinds.filter((k) => k.transport === 'ssh' && k.probe !== undefined && k.parse !== undefined);
  const out = new Map<AnyKind, Observation<unknown, unknown>>();
  if (probing.length === 0) return out;
  const nonce = randomBytes(8).toString('hex');
  const script = probing
    .map(
      (k, i) =>
        `printf '\\n@@${nonce} ${i} begin\\n'\n( ${(k.probe as (c: KindContext) => string)(ctx)}\n) </dev/null\nprintf '\\n@@${nonce} ${i} end %s\\n' "$?"`,
    )
    .join('\n');
  const r = await ssh.exec(script);
  for (const [i, k] of probing.entries()) {
    const begin = r.stdout.indexOf(`\n@@${nonce} ${i} begin\n`);
    const endRe = new RegExp(`\\n@@${nonce} ${i} end (\\d+)\\n`);
    const end = endRe.exec(r.stdout);
    if (begin === -1 || end === null)
      throw new SetpointError(
        'ssh.probe',
        `${ssh.where}: the probe of ${k.kind} gave no answer (exit ${r.code ?? r.signal ?? '?'}): ${r.stderr.trim().slice(0, 300)}`,
      );
    const stdout = r.stdout.slice(begin + `\n@@${nonce} ${i} begin\n`.length, end.index);
    out.set(
      k,
      (k.parse as NonNullable<AnyKind['parse']>)({ stdout, code: Number(end[1]) }, ctx) as Observation<
        unknown,
        unknown
      >,
    );
  }
  return out;
}
