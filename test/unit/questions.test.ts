/**
 * History answers questions (issue 15, item 3): what setpoint knew of a target or a resource at a time,
 * the story of a resource (when each drift appeared, what fixed it, under which file version), the diff
 * between two recorded versions of the file; every reader's query is served by an index (query plans);
 * and the `show` / `diff` commands on a history written through the real writer.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { HistoryFile } from '../../src/history/file.js';
import {
  episodes,
  resourceStory,
  resourcesMatching,
  specInForce,
  specVersions,
  targetAt,
} from '../../src/history/questions.js';
import { History, type Entry, type PassRecord, type TargetKey } from '../../src/history/store.js';
import { diffLines, unifiedDiff } from '../../src/text-diff.js';

const dir = mkdtempSync(join(tmpdir(), 'setpoint-questions-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const T: TargetKey = { cluster: 'orders', host: 'db1' };
const USER = "mysql.user 'app'@'%'";
const GRANT = "mysql.grant 'app'@'%' on orders.*";
const DB = 'mysql.database orders';
const SPEC1 = 'version: 1\nhosts:\n  db1: { address: 10.0.0.1 }\nclusters: {}\n';
const SPEC2 = 'version: 1\nhosts:\n  db1: { address: 10.0.0.1 }\n  db2: { address: 10.0.0.2 }\nclusters: {}\n';
const SPEC3 = 'version: 1\nhosts:\n  db2: { address: 10.0.0.2 }\nclusters: {}\npolicy: { resyncSeconds: 10 }\n';

/** Epoch ms of minute m of 2026-11-26 (UTC). */
const at = (m: number) => Date.UTC(2026, 10, 26, 0, m);

const state = (password: string) =>
  JSON.stringify({ user: 'app', host: '%', verifier: '[verifier]', changed: password });

function pass(time: number, over: Partial<PassRecord> = {}): PassRecord {
  return { ...T, time, specVersion: 'aaaa11112222', state: 'converged', waiting: 0, drift: [], ...over };
}

/**
 * A history written through the real writer:
 *  - 00:01 file version aaaa11112222; 00:02 first observation (user A, grant, database);
 *  - 00:03 the password drifts; an action at 00:03 sets it (ok); 00:04 resolved, user observed as B;
 *  - 00:05 file version bbbb...; 00:06 the grant drifts; 00:08 version cccc... no longer declares it: resolved, no action;
 *  - 00:09 the database's charset drifts; 00:10 it is back with no action, same version: changed outside setpoint;
 *  - 00:11 the user is locked by hand: open; an error at 00:12.
 */
function build(path: string): void {
  const h = History.open(path, { daemonId: 'test' });
  h.recordSpec({ file: '/etc/setpoint/setpoint.yaml', version: 'aaaa11112222', text: SPEC1 }, at(1));
  const observed = new Map([
    [USER, state('A')],
    [GRANT, JSON.stringify({ privileges: ['SELECT'] })],
    [DB, JSON.stringify({ charset: 'utf8mb4' })],
  ]);
  h.commitPass(pass(at(2), { observed: new Map(observed) }));
  h.recordDrift(
    T,
    [
      {
        resource: USER,
        field: 'password',
        summary: 'password is a different password',
        desired: '[secret]',
        observed: 'other',
      },
    ],
    'aaaa11112222',
    at(3),
  );
  const id = h.actionStarted(
    T,
    {
      resource: USER,
      summary: "set password for 'app'@'%'",
      risk: 'safe',
      action: 'alter',
      statements: ['ALTER USER'],
    },
    'aaaa11112222',
    at(3) + 10,
  );
  h.actionEnded(id, 'ok', undefined, at(3) + 12);
  observed.set(USER, state('B'));
  h.commitPass(pass(at(4), { observed: new Map(observed) }));
  h.recordSpec({ file: '/etc/setpoint/setpoint.yaml', version: 'bbbb33334444', text: SPEC2 }, at(5));
  const grantDrift = {
    resource: GRANT,
    field: 'privileges',
    summary: 'privileges is SELECT, declared SELECT, INSERT',
    desired: ['INSERT', 'SELECT'],
    observed: ['SELECT'],
  };
  h.commitPass(pass(at(6), { specVersion: 'bbbb33334444', observed: new Map(observed), drift: [grantDrift] }));
  h.recordSpec({ file: '/etc/setpoint/setpoint.yaml', version: 'cccc55556666', text: SPEC3 }, at(7));
  h.commitPass(pass(at(8), { specVersion: 'cccc55556666', observed: new Map(observed) }));
  const dbDrift = {
    resource: DB,
    field: 'charset',
    summary: 'charset is latin1, declared utf8mb4',
    desired: 'utf8mb4',
    observed: 'latin1',
  };
  observed.set(DB, JSON.stringify({ charset: 'latin1' }));
  h.commitPass(pass(at(9), { specVersion: 'cccc55556666', observed: new Map(observed), drift: [dbDrift] }));
  observed.set(DB, JSON.stringify({ charset: 'utf8mb4' }));
  h.commitPass(pass(at(10), { specVersion: 'cccc55556666', observed: new Map(observed) }));
  const lockDrift = {
    resource: USER,
    field: 'locked',
    summary: 'locked is true, declared false',
    desired: false,
    observed: true,
  };
  h.commitPass(pass(at(11), { specVersion: 'cccc55556666', observed: new Map(observed), drift: [lockDrift] }));
  h.commitPass(
    pass(at(12), {
      specVersion: 'cccc55556666',
      state: 'failing',
      drift: [lockDrift],
      error: { message: 'connect ECONNREFUSED', code: 'sql.unreachable', terminal: false },
    }),
  );
  h.close();
}

const path = join(dir, 'history.db');
build(path);

test('targetAt: the file in force, the observations and the drift open at a time', () => {
  const f = HistoryFile.open(path, { readonly: true });
  try {
    const early = targetAt(f, T, at(3) + 5);
    assert.equal(early.spec?.version, 'aaaa11112222');
    assert.deepEqual(
      early.drift.map((d) => [d.resource, d.field]),
      [[USER, 'password']],
    );
    assert.equal(
      (early.resources.find((r) => r.resource === USER)?.state as { changed: string }).changed,
      'A',
      'the user as observed before the repair',
    );
    const later = targetAt(f, T, at(6) + 1);
    assert.equal(later.spec?.version, 'bbbb33334444');
    assert.deepEqual(
      later.drift.map((d) => d.resource),
      [GRANT],
    );
    assert.equal((later.resources.find((r) => r.resource === USER)?.state as { changed: string }).changed, 'B');
    const before = targetAt(f, T, at(0));
    assert.equal(before.spec, undefined);
    assert.deepEqual(before.resources, []);
    const end = targetAt(f, T, at(13));
    assert.equal(end.lastError?.summary, 'connect ECONNREFUSED');
    assert.deepEqual(
      end.drift.map((d) => d.field),
      ['locked'],
    );
    assert.equal((end.resources.find((r) => r.resource === DB)?.state as { charset: string }).charset, 'utf8mb4');
    const one = targetAt(f, T, at(9) + 1, DB);
    assert.deepEqual(
      one.resources.map((r) => r.state),
      [{ charset: 'latin1' }],
    );
    assert.deepEqual(
      one.drift.map((d) => d.field),
      ['charset'],
    );
    assert.equal(specInForce(f, at(7))?.version, 'cccc55556666');
  } finally {
    f.close();
  }
});

test('resourceStory: when each drift appeared, what fixed it, under which file version', () => {
  const f = HistoryFile.open(path, { readonly: true });
  try {
    const user = resourceStory(f, T, USER);
    assert.deepEqual(
      user.episodes.map((e) => [e.field, e.specVersion, e.fixedBy, e.resolvedSpecVersion]),
      [
        ['password', 'aaaa11112222', 'action', 'aaaa11112222'],
        ['locked', 'cccc55556666', 'open', null],
      ],
    );
    const first = user.episodes[0];
    assert.equal(first?.appeared, at(3));
    assert.equal(first?.resolved, at(4));
    assert.deepEqual(
      first?.actions.map((a) => [a.summary, a.outcome]),
      [["set password for 'app'@'%'", 'ok']],
    );
    assert.deepEqual(
      user.observations.map((o) => (o.state as { changed: string }).changed),
      ['A', 'B'],
    );
    const grant = resourceStory(f, T, GRANT);
    assert.deepEqual(
      grant.episodes.map((e) => [e.fixedBy, e.specVersion, e.resolvedSpecVersion]),
      [['file', 'bbbb33334444', 'cccc55556666']],
    );
    const db = resourceStory(f, T, DB);
    assert.deepEqual(
      db.episodes.map((e) => e.fixedBy),
      ['outside'],
    );
    assert.deepEqual(resourcesMatching(f, T, "'app'"), [GRANT, USER].sort());
    assert.deepEqual(resourcesMatching(f, T, USER), [USER], 'an exact name wins');
    assert.deepEqual(resourcesMatching(f, T, 'nothing like it'), []);
    assert.deepEqual(
      specVersions(f, 'b').map((v) => v.version),
      ['bbbb33334444'],
    );
    assert.deepEqual(
      specVersions(f).map((v) => v.version),
      ['cccc55556666', 'bbbb33334444', 'aaaa11112222'],
    );
  } finally {
    f.close();
  }
});

test('episodes (pure): a failed action does not count as the fix', () => {
  const e = (over: Partial<Entry>): Entry => ({
    id: 1,
    time: 0,
    kind: 'drift',
    cluster: 'c',
    host: 'h',
    resource: 'r',
    field: 'f',
    summary: 's',
    outcome: 'resolved',
    ended: 100,
    specVersion: 'v1',
    detail: null,
    ...over,
  });
  const list = [e({}), e({ id: 2, kind: 'action', time: 10, outcome: 'failed', ended: 11 })];
  assert.equal(episodes(list, () => 'v1')[0]?.fixedBy, 'outside');
  assert.equal(episodes(list, () => 'v2')[0]?.fixedBy, 'file');
  assert.equal(
    episodes([...list, e({ id: 3, kind: 'action', time: 50, outcome: 'ok' })], () => 'v1')[0]?.fixedBy,
    'action',
  );
  assert.equal(episodes([e({ ended: null, outcome: 'open' })], () => 'v1')[0]?.fixedBy, 'open');
});

test('every query the readers run is served by an index, never a scan of a whole table', () => {
  const f = HistoryFile.open(path, { readonly: true });
  try {
    targetAt(f, T, at(13));
    targetAt(f, T, at(13), USER);
    resourceStory(f, T, USER);
    resourcesMatching(f, T, 'app');
    specVersions(f, 'a');
    specInForce(f, at(7));
    const statements = [...(f as unknown as { statements: Map<string, unknown> }).statements.keys()];
    assert.ok(statements.length >= 8, `${statements.length} statements`);
    for (const sql of statements) {
      const params = (sql.match(/\?/g) ?? []).map(() => 'x');
      const plan = (f.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[]).map(
        (r) => r.detail,
      );
      for (const step of plan)
        assert.doesNotMatch(step, /^SCAN (entries|observations|specs)\b(?! USING)/, `${sql}\n${plan.join('\n')}`);
      if (/FROM entries WHERE kind = 'spec'/.test(sql)) assert.match(plan.join('\n'), /entries_spec/);
      if (/resource = \?/.test(sql) && /FROM entries/.test(sql)) assert.match(plan.join('\n'), /entries_resource/);
      if (/kind = '(drift|error)'/.test(sql) && !/resource = \?/.test(sql))
        assert.match(plan.join('\n'), /entries_target_kind/);
    }
  } finally {
    f.close();
  }
});

/** The longest common subsequence's length, by dynamic programming: what a shortest edit script must keep. */
function lcs(a: string[], b: string[]): number {
  const t = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++)
      (t[i] as number[])[j] =
        a[i - 1] === b[j - 1]
          ? ((t[i - 1] as number[])[j - 1] as number) + 1
          : Math.max((t[i - 1] as number[])[j] as number, (t[i] as number[])[j - 1] as number);
  return (t[a.length] as number[])[b.length] as number;
}

test('diffLines is a shortest edit script that rebuilds both texts; unifiedDiff writes hunks as diff -u does', () => {
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (let n = 0; n < 300; n++) {
    const a = Array.from({ length: Math.floor(rand() * 12) }, () => 'abcd'[Math.floor(rand() * 4)] as string);
    const b = Array.from({ length: Math.floor(rand() * 12) }, () => 'abcd'[Math.floor(rand() * 4)] as string);
    const text = (xs: string[]) => xs.map((x) => `${x}\n`).join('');
    const d = diffLines(text(a), text(b));
    assert.deepEqual(
      d.filter((l) => l.op !== '+').map((l) => l.text),
      a,
    );
    assert.deepEqual(
      d.filter((l) => l.op !== '-').map((l) => l.text),
      b,
    );
    assert.equal(d.filter((l) => l.op === ' ').length, lcs(a, b), `${a.join('')} -> ${b.join('')}`);
  }
  const lines20 = Array.from({ length: 20 }, (_, i) => `l${i + 1}`);
  const old = lines20.join('\n') + '\n';
  const now =
    lines20
      .map((l) => (l === 'l3' ? 'L3' : l))
      .filter((l) => l !== 'l18')
      .join('\n') + '\nl21\n';
  assert.deepEqual(unifiedDiff(diffLines(old, now)), [
    '@@ -1,6 +1,6 @@',
    ' l1',
    ' l2',
    '-l3',
    '+L3',
    ' l4',
    ' l5',
    ' l6',
    '@@ -15,6 +15,6 @@',
    ' l15',
    ' l16',
    ' l17',
    '-l18',
    ' l19',
    ' l20',
    '+l21',
  ]);
  assert.deepEqual(unifiedDiff(diffLines(old, old)), []);
  assert.deepEqual(unifiedDiff(diffLines('', 'x\n')), ['@@ -0,0 +1,1 @@', '+x']);
});

function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'bin/setpoint.ts', ...args, '--db', path], {
    encoding: 'utf8',
    env: { ...process.env, TZ: 'UTC' },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("setpoint show: a target at a time, and a resource's story; --json", () => {
  const target = cli('show', 'orders/db1', '--at', '2026-11-26 00:03:05');
  assert.equal(target.status, 0, target.stderr);
  assert.match(target.stdout, /file version: aaaa11112222/);
  assert.match(target.stdout, /Drift open then \(1\)/);
  assert.match(target.stdout, /mysql\.user 'app'@'%'\s+password/);
  const story = cli('show', 'orders/db1', "user 'app'");
  assert.equal(story.status, 0, story.stderr);
  assert.match(
    story.stdout,
    /- password appeared 2026-11-26 00:03:00\.000 under file version aaaa11112222: password is a different password/,
  );
  assert.match(story.stdout, /action ok after 2ms \(file version aaaa11112222\): set password/);
  assert.match(
    story.stdout,
    /resolved 2026-11-26 00:04:00\.000 \(1m later\) under file version aaaa11112222: fixed by setpoint/,
  );
  assert.match(story.stdout, /- locked appeared .* under file version cccc55556666/);
  assert.match(story.stdout, /still open/);
  const json = cli('show', 'orders/db1', GRANT, '--json');
  assert.equal(json.status, 0, json.stderr);
  const j = JSON.parse(json.stdout) as {
    resource: string;
    episodes: { fixedBy: string; resolvedSpecVersion: string }[];
  };
  assert.equal(j.resource, GRANT);
  assert.deepEqual(
    j.episodes.map((e) => [e.fixedBy, e.resolvedSpecVersion]),
    [['file', 'cccc55556666']],
  );
  const several = cli('show', 'orders/db1', "'app'");
  assert.equal(several.status, 1);
  assert.match(several.stderr, /matches 2 resources/);
  const none = cli('show', 'orders/db9');
  assert.equal(none.status, 1);
  assert.match(none.stderr, /no such target .*targets of orders: orders\/db1/);
  const bad = cli('show', 'orders/db1', '--at', 'yesterday-ish');
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /--at "yesterday-ish": expected a time/);
});

test('setpoint diff: two recorded versions (by prefix, @TIME, latest), exit 2 when they differ; a listing without --spec', () => {
  const d = cli('diff', '--spec', 'aaaa', '--spec', 'bbbb');
  assert.equal(d.status, 2, d.stderr);
  assert.match(d.stdout, /^--- aaaa11112222 \/etc\/setpoint\/setpoint\.yaml/);
  assert.match(d.stdout, /\n\+\+\+ bbbb33334444 /);
  assert.match(d.stdout, /\n\+ {2}db2: \{ address: 10\.0\.0\.2 \}\n/);
  const at7 = cli('diff', '--spec', '@2026-11-26T00:05:30Z', '--json');
  assert.equal(at7.status, 2, at7.stderr);
  const j = JSON.parse(at7.stdout) as { from: { version: string }; to: { version: string }; diff: string[] };
  assert.equal(j.from.version, 'bbbb33334444');
  assert.equal(j.to.version, 'cccc55556666', 'one --spec is compared with the latest');
  assert.ok(j.diff.includes('-  db1: { address: 10.0.0.1 }'));
  assert.ok(j.diff.includes('+policy: { resyncSeconds: 10 }'));
  const same = cli('diff', '--spec', 'cccc', '--spec', 'latest');
  assert.equal(same.status, 0);
  assert.match(same.stdout, /are the same/);
  const list = cli('diff');
  assert.equal(list.status, 0);
  assert.match(list.stdout, /VERSION\s+FIRST LOADED\s+FILE\ncccc55556666/);
  const missing = cli('diff', '--spec', 'ffff');
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /no such version/);
});
