import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  clusterConditions,
  computeConditions,
  transitions,
  type Condition,
  type ConditionInput,
} from '../../src/loop/conditions.js';

const P = { degradedAfterMs: 300_000 };
const base = (over: Partial<ConditionInput> = {}): ConditionInput => ({
  now: Date.parse('2026-11-26T10:00:00Z'),
  specVersion: 'v1',
  state: 'converged',
  observed: true,
  made: 0,
  drift: 0,
  waiting: [],
  contested: [],
  runnable: 0,
  ...over,
});
const get = (cs: Condition[], type: string) => cs.find((c) => c.type === type);

test('converged: Ready, not progressing, not degraded, not stalled; every condition names the spec version', () => {
  const c = computeConditions([], base(), P);
  assert.deepEqual(
    c.map((x) => [x.type, x.status, x.reason]),
    [
      ['Ready', 'True', 'Converged'],
      ['Progressing', 'False', 'Converged'],
      ['Degraded', 'False', 'AsExpected'],
      ['Stalled', 'False', 'AsExpected'],
    ],
  );
  assert.ok(c.every((x) => x.observedGeneration === 'v1' && x.lastTransitionTime === '2026-11-26T10:00:00.000Z'));
});

test('lastTransitionTime moves only when a status changes, not when the reason or message does', () => {
  const t0 = computeConditions([], base({ state: 'drifted', drift: 2, made: 1, runnable: 1 }), P);
  const t1 = computeConditions(
    t0,
    base({ now: Date.parse('2026-11-26T10:01:00Z'), state: 'waiting', drift: 1, waiting: ['prune is off'] }),
    P,
  );
  assert.equal(get(t1, 'Ready')?.lastTransitionTime, '2026-11-26T10:00:00.000Z', 'still not ready since 10:00');
  assert.equal(get(t1, 'Ready')?.reason, 'WaitingOnPolicy');
  assert.equal(get(t1, 'Progressing')?.status, 'False');
  assert.equal(get(t1, 'Progressing')?.lastTransitionTime, '2026-11-26T10:01:00.000Z');
  assert.deepEqual(
    transitions(t0, t1).map((c) => c.type),
    ['Progressing'],
  );
});

test('Degraded only when a mismatch lasts longer than the policy allows, and not while progressing', () => {
  const t0 = computeConditions([], base({ state: 'waiting', drift: 1, waiting: ['waiting for window'] }), P);
  const soon = computeConditions(t0, base({ now: Date.parse('2026-11-26T10:04:59Z'), state: 'waiting', drift: 1 }), P);
  assert.equal(get(soon, 'Degraded')?.status, 'False');
  const later = computeConditions(
    soon,
    base({ now: Date.parse('2026-11-26T10:05:00Z'), state: 'waiting', drift: 1 }),
    P,
  );
  assert.deepEqual([get(later, 'Degraded')?.status, get(later, 'Degraded')?.reason], ['True', 'PersistentDrift']);
  const failing = computeConditions(
    later,
    base({
      now: Date.parse('2026-11-26T10:06:00Z'),
      state: 'failing',
      observed: false,
      error: { code: 'sql.unreachable', message: 'down', terminal: false },
    }),
    P,
  );
  assert.equal(get(failing, 'Ready')?.status, 'Unknown', 'unreachable: Unknown, not empty');
  assert.equal(get(failing, 'Degraded')?.reason, 'PersistentFailure');
  const fixed = computeConditions(failing, base({ now: Date.parse('2026-11-26T10:07:00Z') }), P);
  assert.deepEqual([get(fixed, 'Ready')?.status, get(fixed, 'Degraded')?.status], ['True', 'False']);
});

test('Stalled names what needs a human: terminal errors, contested resources, an exceeded destructive budget', () => {
  const auth = computeConditions(
    [],
    base({ state: 'stalled', observed: false, error: { code: 'sql.auth', message: 'Access denied', terminal: true } }),
    P,
  );
  assert.deepEqual([get(auth, 'Stalled')?.status, get(auth, 'Stalled')?.reason], ['True', 'AuthenticationFailed']);
  assert.equal(get(auth, 'Ready')?.status, 'Unknown', 'not observed: neither ready nor not ready');
  const key = computeConditions(
    [],
    base({ state: 'stalled', error: { code: 'ssh.hostkey', message: 'HOST KEY MISMATCH', terminal: true } }),
    P,
  );
  assert.equal(get(key, 'Stalled')?.reason, 'HostKeyMismatch');
  const contested = computeConditions(
    [],
    base({ state: 'drifted', drift: 1, contested: ['mysql.variable max_connections'] }),
    P,
  );
  assert.deepEqual(
    [get(contested, 'Stalled')?.reason, get(contested, 'Degraded')?.reason],
    ['ContestedByAnotherActor', 'ContestedByAnotherActor'],
  );
  const budget = computeConditions(
    [],
    base({ state: 'stalled', drift: 9, budgetExceeded: '9 destructive changes planned' }),
    P,
  );
  assert.equal(get(budget, 'Stalled')?.reason, 'DestructiveBudgetExceeded');
  const paused = computeConditions([], base({ state: 'drifted', drift: 1, paused: 'maintenance', runnable: 1 }), P);
  assert.deepEqual([get(paused, 'Progressing')?.status, get(paused, 'Progressing')?.reason], ['False', 'Paused']);
});

test('a cluster is Ready when every member is, Degraded or Stalled when any is', () => {
  const ok = computeConditions([], base(), P);
  const bad = computeConditions(
    [],
    base({ state: 'stalled', observed: false, error: { code: 'sql.auth', message: 'x', terminal: true } }),
    P,
  );
  assert.deepEqual(clusterConditions([ok, ok]), {
    Ready: 'True',
    Progressing: 'False',
    Degraded: 'False',
    Stalled: 'False',
  });
  assert.deepEqual(clusterConditions([ok, bad]), {
    Ready: 'Unknown',
    Progressing: 'False',
    Degraded: 'False',
    Stalled: 'True',
  });
  assert.deepEqual(clusterConditions([]), {
    Ready: 'Unknown',
    Progressing: 'False',
    Degraded: 'False',
    Stalled: 'False',
  });
});
