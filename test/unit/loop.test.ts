import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Change } from '../../src/engine.js';
import { backoffDelay, resyncDelay } from '../../src/loop/backoff.js';
import { selectStep, type StepPolicy } from '../../src/loop/policy.js';
import { WorkQueue } from '../../src/loop/queue.js';

const change = (id: string, risk: Change['risk'], phase: number, extra: Partial<Change> = {}): Change => ({
  kind: 'k',
  id,
  action: 'x',
  risk,
  phase,
  summary: id,
  statements: [],
  ...extra,
});
const policy = (p: Partial<StepPolicy> = {}): StepPolicy => ({
  mode: 'enforce',
  prune: false,
  destructiveLeft: 5,
  destructiveBudget: 5,
  disruptive: { allowed: false, reason: 'no window', code: 'no-window' },
  ...p,
});

test('a step is every runnable safe change, in phase order', () => {
  const d = selectStep(
    [
      change('grant', 'safe', 30),
      change('db', 'safe', 10),
      change('drop', 'destructive', 80),
      change('user', 'safe', 20),
    ],
    policy({ prune: true }),
  );
  assert.deepEqual(
    d.run.map((c) => c.id),
    ['db', 'user', 'grant'],
  );
  assert.deepEqual(
    d.pending.map((c) => c.id),
    ['drop'],
  );
});

test('with no safe change left, exactly one destructive change runs, within the budget', () => {
  const drops = [
    change('a', 'destructive', 80, { prune: 'users' }),
    change('b', 'destructive', 80, { prune: 'users' }),
  ];
  assert.deepEqual(
    selectStep(drops, policy({ prune: true })).run.map((c) => c.id),
    ['a'],
  );
  const spent = selectStep(drops, policy({ prune: true, destructiveLeft: 0 }));
  assert.equal(spent.run.length, 0);
  assert.deepEqual(
    spent.waiting.map((w) => w.reason),
    ['destructive budget used up (5 per pass)', 'destructive budget used up (5 per pass)'],
  );
});

test('more destructive changes than the budget: none runs, and the reason says why (a mistake in the file is likelier than intent)', () => {
  const drops = Array.from({ length: 6 }, (_, i) => change(`u${i}`, 'destructive', 80, { prune: 'users' }));
  const d = selectStep(drops, policy({ prune: true }));
  assert.equal(d.run.length, 0);
  assert.equal(d.waiting.length, 6);
  assert.ok(
    d.waiting.every(
      (w) =>
        w.code === 'budget' &&
        w.reason ===
          '6 destructive changes planned, more than the budget of 5 per pass: none is made (raise destructiveBudget to confirm)',
    ),
  );
  assert.deepEqual(
    selectStep(drops.slice(0, 5), policy({ prune: true })).run.map((c) => c.id),
    ['u0'],
  );
});

test('prune gates removal of undeclared objects, per class', () => {
  const c = [
    change('u', 'destructive', 80, { prune: 'users' }),
    change('d', 'destructive', 90, { prune: 'databases' }),
  ];
  assert.equal(selectStep(c, policy()).run.length, 0);
  assert.match(selectStep(c, policy()).waiting[0]?.reason ?? '', /^prune is off for users/);
  const some = selectStep(c, policy({ prune: { users: true } }));
  assert.deepEqual(
    some.run.map((x) => x.id),
    ['u'],
  );
  assert.deepEqual(
    some.waiting.map((x) => x.change.id),
    ['d'],
  );
});

test('observe mode, pauses and unmet preconditions hold everything back; disruptive needs a window', () => {
  const c = [change('s', 'safe', 10), change('r', 'disruptive', 50)];
  assert.deepEqual(
    selectStep(c, policy({ mode: 'observe' })).waiting.map((w) => w.reason),
    ['mode: observe', 'mode: observe'],
  );
  assert.deepEqual(
    selectStep(c, policy({ paused: 'maintenance' })).waiting.map((w) => w.reason),
    ['paused: maintenance', 'paused: maintenance'],
  );
  const blocked = selectStep([change('g', 'safe', 30, { blocked: 'table t does not exist yet' })], policy());
  assert.deepEqual(
    blocked.waiting.map((w) => w.reason),
    ['table t does not exist yet'],
  );
  const noWindow = selectStep([change('r', 'disruptive', 50)], policy());
  assert.deepEqual(
    noWindow.waiting.map((w) => w.reason),
    ['no window'],
  );
  assert.deepEqual(
    selectStep([change('r', 'disruptive', 50)], policy({ disruptive: { allowed: true } })).run.map((x) => x.id),
    ['r'],
  );
});

test('backoff doubles from the base, is capped, and jitters within [d/2, d]', () => {
  assert.equal(
    backoffDelay(1, 1000, 300_000, () => 1),
    1000,
  );
  assert.equal(
    backoffDelay(1, 1000, 300_000, () => 0),
    500,
  );
  assert.equal(
    backoffDelay(4, 1000, 300_000, () => 1),
    8000,
  );
  assert.equal(
    backoffDelay(30, 1000, 300_000, () => 1),
    300_000,
  );
  assert.equal(
    backoffDelay(30, 1000, 300_000, () => 0),
    150_000,
  );
  const seen = new Set(Array.from({ length: 50 }, () => backoffDelay(5, 1000, 300_000)));
  assert.ok(seen.size > 10, 'jitter spreads retries');
  for (const d of seen) assert.ok(d >= 8000 && d <= 16000);
  for (let i = 0; i < 100; i++) {
    const r = resyncDelay(30);
    assert.ok(r >= 27_000 && r <= 33_000);
  }
});

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

test('work queue: never the same key twice at once; re-added while running runs once more after', async () => {
  const running = new Set<string>();
  const runs: string[] = [];
  let overlap = false;
  let release: (() => void) | undefined;
  const q = new WorkQueue(4, async (key) => {
    if (running.has(key)) overlap = true;
    running.add(key);
    runs.push(key);
    if (runs.length === 1) await new Promise<void>((r) => (release = r));
    else await tick();
    running.delete(key);
  });
  q.add('a');
  await tick();
  q.add('a');
  q.add('a');
  q.add('a');
  await tick();
  assert.deepEqual(runs, ['a'], 'not run again while running');
  release?.();
  await tick(30);
  assert.deepEqual(runs, ['a', 'a'], 'run exactly once more afterwards');
  assert.equal(overlap, false);
  await q.stop();
});

test('work queue: the concurrency limit holds, and a failing item does not stall the others', async () => {
  let now = 0;
  let max = 0;
  const done: string[] = [];
  const q = new WorkQueue(2, async (key) => {
    now++;
    max = Math.max(max, now);
    await tick(10);
    now--;
    if (key === 'bad') throw new Error('boom');
    done.push(key);
  });
  for (const k of ['bad', 'b', 'c', 'd', 'e']) q.add(k);
  await tick(100);
  assert.equal(max, 2);
  assert.deepEqual(done.sort(), ['b', 'c', 'd', 'e']);
  await q.stop();
});

test('work queue: delayed adds keep the earliest schedule; remove forgets', async () => {
  const runs: string[] = [];
  const q = new WorkQueue(1, async (key) => {
    runs.push(key);
  });
  q.add('a', 1000);
  q.add('a', 20);
  q.add('b', 20);
  q.remove('b');
  await tick(60);
  assert.deepEqual(runs, ['a']);
  await q.stop();
});
