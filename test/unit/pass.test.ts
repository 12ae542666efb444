/**
 * The pass (observe -> decide -> act) on an in-memory fake engine: one SQL kind over a Map ("the
 * server"), one SSH kind over a flag, no network. Each case is a rule of the loop: the step bound, no
 * progress, a lease held elsewhere, a partial observation, a disruptive change that did not take, the
 * destructive budget, a contested resource; and kinds observed in the order their `needs` give.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { z } from 'zod';
import {
  itemsOnly,
  type AnyKind,
  type Change,
  type Engine,
  type ResourceKind,
  type Session,
} from '../../src/engine.js';
import { SetpointError } from '../../src/errors.js';
import { silent } from '../../src/log.js';
import { observationOrder } from '../../src/loop/observe.js';
import { reconcile, type PassDeps } from '../../src/loop/reconcile.js';
import { targetsOf, type Target } from '../../src/loop/targets.js';
import { parseSpec } from '../../src/spec/load.js';
import { SessionPool } from '../../src/transport/sessions.js';
import type { SshPool, SshSession } from '../../src/transport/ssh.js';

/** The fake server: items by name, and what the fake engine's session and lease do. */
interface FakeServer {
  items: Map<string, number>;
  /** A change that "runs" but leaves the server as it was (another actor, a server that ignores it). */
  ignore: Set<string>;
  /** Who holds the lease, when another daemon does. */
  leaseHolder?: string;
  /** The SQL connection fails (transient). */
  down: boolean;
  /** The SSH kind: is the service running. */
  running: boolean;
  restarts: number;
}

let server: FakeServer;
const fresh = (over: Partial<FakeServer> = {}): FakeServer => ({
  items: new Map(),
  ignore: new Set(),
  down: false,
  running: true,
  restarts: 0,
  ...over,
});

const session: Session = {
  server: 'Fake 1.0',
  stats: { statements: 0, bytesIn: 0 },
  broken: false,
  query: () => Promise.reject(new Error('no SQL here')),
  close: () => Promise.resolve(),
};

type FakeCluster = {
  engine: string;
  members: string[];
  items: Record<string, number>;
  chain: boolean;
  restartFor?: string | undefined;
};

/** fake.item: declared items exist with their value; undeclared ones are dropped with prune; `chain` creates one per step. */
const item: ResourceKind<number, { value: number }, Session, never> & AnyKind = {
  kind: 'fake.item',
  desired: (ctx: { cluster: FakeCluster }) => new Map(Object.entries(ctx.cluster.items)),
  observe: () => Promise.resolve(itemsOnly(new Map([...server.items].map(([k, v]) => [k, { value: v }])))),
  diff(desired, { items }, ctx: { prune(c: string): boolean }) {
    const out = [];
    for (const [id, v] of desired) {
      const have = items.get(id);
      if (have === undefined) out.push({ kind: 'fake.item', id, field: 'present', desired: true, observed: false });
      else if (have.value !== v) out.push({ kind: 'fake.item', id, field: 'value', desired: v, observed: have.value });
    }
    if (ctx.prune('objects'))
      for (const id of items.keys())
        if (!desired.has(id)) out.push({ kind: 'fake.item', id, field: 'absent', desired: false, observed: true });
    return out;
  },
  plan(drift, desired, { items }, ctx: { cluster: FakeCluster }) {
    const names = [...desired.keys()];
    return drift.map((d): Change => {
      const set = (v: number | undefined) => async () => {
        if (server.ignore.has(d.id)) return;
        if (v === undefined) server.items.delete(d.id);
        else server.items.set(d.id, v);
      };
      if (d.field === 'absent')
        return {
          kind: 'fake.item',
          id: d.id,
          action: 'drop',
          risk: 'destructive',
          phase: 90,
          prune: 'objects',
          summary: `drop ${d.id}`,
          statements: [],
          run: set(undefined),
        };
      const before = names[names.indexOf(d.id) - 1];
      const blocked = ctx.cluster.chain && before !== undefined && !items.has(before) ? `${before} first` : undefined;
      return {
        kind: 'fake.item',
        id: d.id,
        action: 'set',
        risk: 'safe',
        phase: 10,
        summary: `set ${d.id}`,
        statements: [],
        run: set(desired.get(d.id)),
        ...(blocked === undefined ? {} : { blocked }),
      };
    });
  },
} as ResourceKind<number, { value: number }, Session, never> & AnyKind;

/** fake.service (SSH): a stopped service is started (safe); `restartFor` plans a restart (disruptive) that changes nothing. */
const service: AnyKind = {
  kind: 'fake.service',
  transport: 'ssh',
  desired: (ctx: { hostName: string }) => new Map([[ctx.hostName, true]]),
  probe: () => 'status',
  parse: (out: { stdout: string }, ctx: { hostName: string }) =>
    itemsOnly(new Map([[ctx.hostName, { running: out.stdout.trim() === 'running' }]])),
  observe: () => Promise.reject(new Error('probed, not observed')),
  diff(
    _desired: Map<string, boolean>,
    { items }: { items: Map<string, { running: boolean }> },
    ctx: { hostName: string; cluster: FakeCluster },
  ) {
    const out = [];
    if (items.get(ctx.hostName)?.running === false)
      out.push({ kind: 'fake.service', id: ctx.hostName, field: 'running', desired: true, observed: false });
    if (ctx.cluster.restartFor !== undefined)
      out.push({
        kind: 'fake.service',
        id: ctx.hostName,
        field: 'restart',
        desired: ctx.cluster.restartFor,
        observed: 'pending',
      });
    return out;
  },
  plan(drift: { field: string; id: string }[]) {
    return drift.map((d): Change =>
      d.field === 'running'
        ? {
            kind: 'fake.service',
            id: d.id,
            action: 'start',
            risk: 'safe',
            phase: 1,
            summary: 'start',
            statements: [],
            run: () => Promise.resolve(void (server.running = true)),
          }
        : {
            kind: 'fake.service',
            id: d.id,
            action: 'restart',
            risk: 'disruptive',
            phase: 60,
            summary: 'restart',
            statements: [],
            run: () => Promise.resolve(void server.restarts++),
          },
    );
  },
};

const engine: Engine<Record<string, never>> = {
  name: 'fake',
  hostKey: 'fake',
  connectionSchema: z.strictObject({}),
  clusterShape: {
    items: z.record(z.string(), z.number()).default({}),
    chain: z.boolean().default(false),
    restartFor: z.string().optional(),
  },
  connect: () =>
    server.down ? Promise.reject(new SetpointError('sql.unreachable', 'fake server down')) : Promise.resolve(session),
  lease: () =>
    Promise.resolve(
      server.leaseHolder === undefined ? { held: true, taken: true } : { held: false, holder: server.leaseHolder },
    ),
  facts: () => ({ packages: [] }),
  kinds: [service, item],
  classify: (err) => ({
    terminal: false,
    code: 'sql.error',
    message: err instanceof Error ? err.message : String(err),
  }),
};

const fakeShell = {
  where: 'fake',
  stats: { commands: 0 },
  broken: false,
  exec: () => Promise.resolve({ stdout: `\n@@${'x'}`, stderr: '', code: 0 }),
};

function target(body: string, opts: { ssh?: boolean; policy?: string } = {}): Target {
  const host =
    opts.ssh === true
      ? '{ address: 127.0.0.9, fake: {}, ssh: { privateKeyFile: /k } }'
      : '{ address: 127.0.0.9, fake: {} }';
  const loaded = parseSpec(
    `version: 1\nhosts:\n  h: ${host}\nclusters:\n  c:\n    engine: fake\n    members: [h]\n${body}\npolicy:\n  ${opts.policy ?? 'resyncSeconds: 30'}\n`,
    'fake.yaml',
    [engine],
    { secrets: false },
  );
  const [t] = targetsOf(loaded.spec, [engine]);
  assert.ok(t);
  return t;
}

/** An SshPool whose shell answers every probe with the markers the pass expects, the service as the fake server has it. */
function sshPool(): SshPool {
  const shell = {
    ...fakeShell,
    exec: (script: string) => {
      const m = /@@(\w+) 0 begin/.exec(script);
      const nonce = m?.[1] ?? '';
      return Promise.resolve({
        stdout: `\n@@${nonce} 0 begin\n${server.running ? 'running' : 'stopped'}\n@@${nonce} 0 end 0\n`,
        stderr: '',
        code: 0,
      });
    },
  } as unknown as SshSession;
  return { get: () => Promise.resolve(shell), drop: () => undefined } as unknown as SshPool;
}

function deps(over: Partial<PassDeps> = {}): PassDeps {
  return { pool: new SessionPool(), log: silent, specVersion: 'v1', owner: 'test', ...over };
}

test('kinds are observed in the order their needs give, whatever the order of the list', () => {
  const kind = (name: string, needs: AnyKind[] = []) =>
    ({ kind: name, needs }) as unknown as AnyKind & { needs: AnyKind[] };
  const a = kind('a');
  const b = kind('b', [a]);
  const c = kind('c', [b, a]);
  assert.deepEqual(
    observationOrder([c, b, a]).map((k) => k.kind),
    ['a', 'b', 'c'],
  );
  assert.deepEqual(
    observationOrder([a, c, b]).map((k) => k.kind),
    ['a', 'b', 'c'],
  );
  const x = kind('x');
  const y = kind('y', [x]);
  x.needs.push(y);
  assert.throws(() => observationOrder([x]), /cycle: x -> y -> x/);
});

test('a pass converges in steps, and stops at its step bound with "more", not a failure', async () => {
  server = fresh();
  const t = target('    chain: true\n    items: { a: 1, b: 2, c: 3, d: 4, e: 5 }');
  const first = await reconcile(t, deps(), { act: true, maxSteps: 2 });
  assert.equal(first.made, 2, 'one item per step under the chain');
  assert.equal(first.more, true);
  assert.equal(first.error, undefined);
  assert.equal(first.state, 'drifted');
  const second = await reconcile(t, deps(), { act: true });
  assert.equal(second.made, 3);
  assert.equal(second.state, 'converged');
  assert.deepEqual(
    [...server.items],
    [
      ['a', 1],
      ['b', 2],
      ['c', 3],
      ['d', 4],
      ['e', 5],
    ],
  );
});

test('a change that ran but left the server as it was stops the pass: no progress, no loop', async () => {
  server = fresh({ ignore: new Set(['a']) });
  const o = await reconcile(target('    items: { a: 1 }'), deps(), { act: true });
  assert.equal(o.made, 1, 'tried once');
  assert.equal(o.error?.code, 'loop.no_progress');
  assert.match(o.error?.message ?? '', /changes ran but the server still needs them: set a/);
});

test('a lease held by another daemon: nothing is changed, every change waits saying who holds it', async () => {
  server = fresh({ leaseHolder: 'daemon-b (pid 7)' });
  const o = await reconcile(target('    items: { a: 1, b: 2 }'), deps(), { act: true });
  assert.equal(o.made, 0);
  assert.equal(server.items.size, 0);
  assert.equal(o.leaseHolder, 'daemon-b (pid 7)');
  assert.deepEqual(
    o.changes.map((c) => [c.status, c.code, c.reason]),
    [
      ['waiting', 'lease', 'lease held by daemon-b (pid 7)'],
      ['waiting', 'lease', 'lease held by daemon-b (pid 7)'],
    ],
  );
});

test('a partial observation allows only safe changes: the service is started, the restart waits', async () => {
  server = fresh({ down: true, running: false });
  const t = target('    items: { a: 1 }\n    restartFor: a-setting', {
    ssh: true,
    policy: 'maintenanceWindows: [{ cron: "* * * * *", minutes: 60 }]',
  });
  const o = await reconcile(t, deps({ ssh: sshPool(), disruptive: () => ({ allowed: true }) }), { act: true });
  assert.equal(server.running, true, 'the safe start ran');
  assert.equal(server.restarts, 0, 'no disruptive change on a partial observation');
  const restart = o.changes.find((c) => c.action === 'restart');
  assert.equal(restart?.code, 'incomplete');
  assert.match(restart?.reason ?? '', /^observation incomplete \(fake server down\)/);
  assert.equal(o.complete, false);
  assert.equal(o.error?.code, 'sql.unreachable', 'what was not observed is reported');
});

test('a disruptive change that did not take is made once under a file, then waits for a human', async () => {
  server = fresh();
  const t = target('    items: {}\n    restartFor: a-setting', { ssh: true });
  const done = new Set<string>();
  const d = deps({ ssh: sshPool(), disruptive: () => ({ allowed: true }), disruptedBefore: done });
  const first = await reconcile(t, d, { act: true });
  assert.equal(server.restarts, 1);
  assert.equal(first.disrupted, true);
  const again = first.changes.find((c) => c.action === 'restart');
  assert.equal(again?.code, 'repeat');
  const second = await reconcile(t, d, { act: true });
  assert.equal(server.restarts, 1, 'not repeated in a later pass either');
  assert.equal(second.made, 0);
});

test('more destructive changes than the budget: none is made and the target is stalled until a human raises it', async () => {
  server = fresh({
    items: new Map([
      ['x', 1],
      ['y', 2],
      ['z', 3],
    ]),
  });
  const o = await reconcile(target('    items: {}\n    prune: true\n    destructiveBudget: 2'), deps(), { act: true });
  assert.equal(o.made, 0);
  assert.equal(server.items.size, 3);
  assert.match(
    o.budgetExceeded ?? '',
    /3 destructive changes planned, more than the budget of 2 per pass: none is made/,
  );
  assert.equal(o.state, 'stalled');
  assert.ok(o.changes.every((c) => c.code === 'budget'));
  const within = await reconcile(target('    items: {}\n    prune: true\n    destructiveBudget: 3'), deps(), {
    act: true,
  });
  assert.equal(within.made, 3, 'within the budget, one destructive change per step');
  assert.equal(server.items.size, 0);
});

test('a contested resource waits; the rest of the target converges', async () => {
  server = fresh();
  const o = await reconcile(
    target('    items: { a: 1, b: 2 }'),
    deps({ contested: (_t, r) => (r === 'fake.item a' ? 'contested by another actor' : undefined) }),
    { act: true },
  );
  assert.deepEqual([...server.items], [['b', 2]]);
  assert.deepEqual(
    o.changes.map((c) => [c.resource, c.code]),
    [['fake.item a', 'contested']],
  );
  assert.equal(o.state, 'waiting');
});
