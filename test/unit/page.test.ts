/**
 * The status page (src/page.ts) on a history written through the real writer: the grid coloured by
 * condition, timelines, topology, escaping of names and summaries; the loopback listener serves it
 * read-only with a strict content security policy; the Grafana dashboard in config/ queries only
 * metrics the daemon exports, and every setpoint metric has a panel.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { History } from '../../src/history/store.js';
import { Metrics } from '../../src/metrics.js';
import { COLOURS, fleetView, healthOf, renderPage } from '../../src/page.js';
import type { Spec } from '../../src/spec/types.js';
import type { Condition } from '../../src/status.js';

const dir = mkdtempSync(join(tmpdir(), 'setpoint-page-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const cond = (type: Condition['type'], status: Condition['status'], reason = 'R'): Condition => ({
  type,
  status,
  reason,
  message: `${type} is ${status}`,
  lastTransitionTime: new Date(0).toISOString(),
  observedGeneration: 'v1',
});

const NOW = Date.UTC(2026, 10, 26, 12, 0);
const HOSTILE = '<img src=x onerror=alert(1)>';

function history(): History {
  const h = History.open(join(dir, `h${Math.random()}.db`));
  h.recordSpec({ file: 'f.yaml', version: 'v1', text: 'x' }, NOW - 7_200_000);
  const base = { specVersion: 'v1', waiting: 0 } as const;
  h.commitPass({
    ...base,
    cluster: 'orders',
    host: 'db1',
    time: NOW - 3_600_000,
    state: 'converged',
    observed: new Map([['mysql.database orders', '{}']]),
    drift: [],
    conditions: [cond('Ready', 'True'), cond('Progressing', 'False')],
  });
  h.recordDrift(
    { cluster: 'orders', host: 'db1' },
    [
      {
        resource: `mysql.database ${HOSTILE}`,
        field: 'present',
        summary: `missing ${HOSTILE}`,
        desired: 1,
        observed: 0,
      },
    ],
    'v1',
    NOW - 1_800_000,
  );
  const id = h.actionStarted(
    { cluster: 'orders', host: 'db1' },
    {
      resource: `mysql.database ${HOSTILE}`,
      summary: 'create database',
      risk: 'safe',
      action: 'create',
      statements: [],
    },
    'v1',
    NOW - 1_799_000,
  );
  h.actionEnded(id, 'ok', undefined, NOW - 1_798_000);
  h.commitPass({
    ...base,
    cluster: 'orders',
    host: 'db1',
    time: NOW - 1_797_000,
    state: 'converged',
    drift: [],
    conditions: [cond('Ready', 'True'), cond('Progressing', 'False')],
  });
  h.commitPass({
    ...base,
    cluster: 'orders',
    host: 'db2',
    time: NOW - 600_000,
    state: 'stalled',
    error: { message: 'access denied', code: 'auth', terminal: true },
    conditions: [cond('Ready', 'False'), cond('Stalled', 'True', 'AuthFailed')],
  });
  h.commitPass({
    ...base,
    cluster: 'ledger',
    host: '*',
    time: NOW - 60_000,
    state: 'converged',
    observed: new Map([
      [
        'topology pg1',
        JSON.stringify({
          member: 'pg1',
          role: 'primary',
          writable: true,
          source: null,
          replicating: null,
          lagSeconds: null,
          position: '0/1',
        }),
      ],
      [
        'topology pg2',
        JSON.stringify({
          member: 'pg2',
          role: 'replica',
          writable: false,
          source: 'pg1',
          replicating: false,
          lagSeconds: 12,
          position: '0/1',
        }),
      ],
    ]),
    drift: [],
    conditions: [cond('Ready', 'True'), cond('Degraded', 'True', 'ReplicaStopped')],
  });
  return h;
}

const spec = {
  version: 1,
  hosts: {},
  clusters: {
    orders: { engine: 'mysql', members: ['db1', 'db2', 'db3'] },
    ledger: { engine: 'postgres', members: ['pg1', 'pg2'], replication: { primary: 'pg1' } },
  },
  policy: {},
} as unknown as Spec;

test('healthOf: the worst condition wins', () => {
  assert.equal(healthOf([cond('Ready', 'True')], 'converged'), 'ready');
  assert.equal(healthOf([cond('Ready', 'True'), cond('Degraded', 'True')], 'converged'), 'degraded');
  assert.equal(healthOf([cond('Degraded', 'True'), cond('Stalled', 'True')], 'stalled'), 'stalled');
  assert.equal(healthOf([cond('Progressing', 'True'), cond('Ready', 'False')], 'drifted'), 'progressing');
  assert.equal(healthOf([], 'unknown'), 'unknown');
});

test('fleetView and renderPage: grid by condition, timelines, topology; every name escaped', () => {
  const h = history();
  try {
    const v = fleetView({ history: h, spec: () => spec }, { now: NOW });
    assert.deepEqual(
      v.clusters.map((c) => [c.name, c.targets.map((t) => `${t.host}:${t.health}`), c.clusterPass?.health ?? null]),
      [
        ['ledger', ['pg1:unknown', 'pg2:unknown'], 'degraded'],
        ['orders', ['db1:ready', 'db2:stalled', 'db3:unknown'], null],
      ],
    );
    const db1 = v.clusters[1]?.targets[0];
    assert.deepEqual(
      db1?.timeline.map((e) => `${e.kind}:${e.outcome}`),
      ['drift:resolved', 'action:ok'],
    );
    assert.equal(v.clusters[1]?.targets[1]?.timeline[0]?.kind, 'error');
    const capped = fleetView({ history: h, spec: () => spec }, { now: NOW, perTarget: 1 });
    assert.deepEqual(
      capped.clusters[1]?.targets[0]?.timeline.map((e) => e.kind),
      ['action'],
      'the newest marks are kept',
    );
    assert.equal(v.clusters[0]?.topology?.primary, 'pg1');
    const html = renderPage(v);
    assert.ok(!html.includes(HOSTILE), 'a hostile name never reaches the page unescaped');
    assert.ok(html.includes(esc(HOSTILE)));
    assert.doesNotMatch(html, /<script/i);
    assert.match(html, /<td class="cell ready" data-target="orders\/db1" data-health="ready"/);
    assert.match(html, /<td class="cell stalled" data-target="orders\/db2"/);
    assert.match(html, /<td class="cell degraded" data-target="ledger\/\*"/);
    assert.match(
      html,
      /<svg class="timeline" data-target="orders\/db1"[\s\S]*?class="mark drift"[\s\S]*?class="mark action ok"/,
    );
    assert.match(html, /<g class="node" data-member="pg1" data-role="primary">/);
    assert.match(html, /<line class="edge broken"/, 'a replica that does not replicate is a broken edge');
    assert.match(html, /no replication declared/);
    for (const c of [COLOURS.ready, COLOURS.stalled, COLOURS.degraded, COLOURS.drift]) assert.ok(html.includes(c));
  } finally {
    h.close();
  }
});

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

test('the loopback listener serves the page and fleet.json read-only, with a strict content security policy', async () => {
  const h = history();
  const m = new Metrics({
    targets: () => [],
    depth: () => ({ ready: 0, running: 0, scheduled: 0 }),
    fleet: { history: h, spec: () => spec },
  });
  const server = await m.listen('127.0.36.1:0');
  const base = `http://127.0.36.1:${(server.address() as AddressInfo).port}`;
  try {
    const page = await fetch(`${base}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'none'/);
    assert.match(await page.text(), /setpoint: the fleet/);
    const json = (await (await fetch(`${base}/fleet.json`)).json()) as { clusters: { name: string }[] };
    assert.deepEqual(
      json.clusters.map((c) => c.name),
      ['ledger', 'orders'],
    );
    assert.equal((await fetch(`${base}/`, { method: 'POST' })).status, 405);
    assert.equal((await fetch(`${base}/nothing`)).status, 404);
  } finally {
    server.close();
    h.close();
  }
  const bare = new Metrics({ targets: () => [], depth: () => ({ ready: 0, running: 0, scheduled: 0 }) });
  const s2 = await bare.listen('127.0.36.1:0');
  try {
    assert.equal((await fetch(`http://127.0.36.1:${(s2.address() as AddressInfo).port}/`)).status, 404);
  } finally {
    s2.close();
  }
});

test('the Grafana dashboard queries only metrics the daemon exports, and every setpoint metric has a panel', async () => {
  const dash = JSON.parse(readFileSync('config/setpoint.grafana.json', 'utf8')) as {
    panels: { title: string; targets: { expr: string }[] }[];
    templating: { list: { query?: unknown }[] };
  };
  const m = new Metrics({ targets: () => [], depth: () => ({ ready: 0, running: 0, scheduled: 0 }) });
  const exported = (await m.registry.getMetricsAsJSON()).map((x) => ({ name: x.name, type: String(x.type) }));
  const names = new Set(
    exported.flatMap((x) =>
      x.type === 'histogram' ? [`${x.name}_bucket`, `${x.name}_sum`, `${x.name}_count`] : [x.name],
    ),
  );
  const exprs = [
    ...dash.panels.flatMap((p) => p.targets.map((t) => t.expr)),
    ...dash.templating.list.map((v) => JSON.stringify(v.query ?? '')),
  ];
  assert.ok(dash.panels.length >= 10);
  const queried = new Set<string>();
  for (const e of exprs)
    for (const [name] of e.matchAll(/\bsetpoint_[a-z0-9_]+/g)) {
      assert.ok(names.has(name), `the dashboard queries ${name}, which the daemon does not export`);
      queried.add(name.replace(/_(bucket|sum|count)$/, ''));
    }
  const own = exported.map((x) => x.name).filter((n) => !/^setpoint_(process|nodejs)_/.test(n));
  assert.ok(own.length >= 10, own.join(', '));
  for (const n of own) assert.ok(queried.has(n), `no panel shows ${n}`);
  for (const p of dash.panels) assert.ok(p.targets.length > 0, `panel ${p.title} has a query`);
});
