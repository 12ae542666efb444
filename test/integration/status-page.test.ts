/**
 * The status page of a real daemon (`setpoint run --listen`) over two real MariaDB servers in a
 * replicated cluster and one cluster whose server does not exist, looked at in headless Chromium
 * (Debian's chromium package): the DOM Chromium builds (--dump-dom) has the grid coloured by condition,
 * the drift and the repair of a database dropped by hand on the timeline, and the topology; the
 * screenshot (--screenshot) is not blank and shows the grid's colours. Range 127.0.36.x.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import type mysql from 'mysql2/promise';
import { destroyAll, startHost } from '../../lab/index.js';
import { COLOURS } from '../../src/page.js';
import { cli, Daemon, jsonLines, mysqlRoot, tempDir, waitFor } from '../helpers.js';
import { countColour, distinctColours, readPng } from '../png.js';

const DB1 = '127.0.36.1';
const DB2 = '127.0.36.2';
const GONE = '127.0.36.9';
const LISTEN = '127.0.36.1:19436';
const URL = `http://${LISTEN}/`;
const tmp = tempDir('status-page');
let daemon: Daemon | undefined;
let root: mysql.Connection | undefined;
let db = '';

before(async () => {
  await Promise.all([
    startHost({ name: 'db1', address: DB1, mariadb: true }),
    startHost({ name: 'db2', address: DB2, mariadb: true }),
  ]);
  root = await mysqlRoot(DB1);
  tmp.file('repl.pw', 'Repl-page-5Qx\n');
  const file = tmp.file(
    'setpoint.yaml',
    `version: 1
hosts:
  db1: { address: ${DB1}, mysql: { user: root } }
  db2: { address: ${DB2}, mysql: { user: root } }
  gone: { address: ${GONE}, mysql: { user: root } }
clusters:
  orders:
    engine: mysql
    members: [db1, db2]
    replication: { primary: db1, user: repl, password: { file: ${tmp.dir}/repl.pw } }
    databases: [{ name: shop }]
  dead:
    engine: mysql
    members: [gone]
    databases: [{ name: never }]
policy:
  resyncSeconds: 1
  degradedAfterSeconds: 1
  backoff: { initialSeconds: 0.2, maxSeconds: 2 }
  maintenanceWindows: [{ cron: "* * * * *", minutes: 60, timezone: UTC }]
`,
  );
  db = tmp.file('history.db');
  daemon = new Daemon(file, db, {}, ['--listen', LISTEN]);
  await waitFor(
    'orders converged with its topology',
    async () => {
      const rows = jsonLines((await cli(['status', '--db', db, '--json'])).stdout);
      const orders = rows.filter((r) => r.cluster === 'orders');
      return orders.length === 3 && orders.every((r) => r.state === 'converged');
    },
    120_000,
    250,
  );
});

after(async () => {
  await daemon?.stop();
  await root?.end().catch(() => undefined);
  await destroyAll();
  tmp.cleanup();
});

/** Runs headless Chromium (no network but the page's own, no profile left behind) with `args` on the page. */
function chromium(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const profile = tmp.file(`chromium-${Math.random().toString(36).slice(2)}`);
  return new Promise((resolve, reject) => {
    const p = spawn(
      'chromium',
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--hide-scrollbars',
        `--user-data-dir=${profile}`,
        '--window-size=1200,800',
        ...args,
        URL,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), 90_000);
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

test('a database dropped by hand shows on the page as drift and a repair; the grid and topology as Chromium sees them', async () => {
  const since = Date.now();
  await root?.query('DROP DATABASE shop');
  await waitFor(
    'the daemon put shop back',
    async () => {
      const h = jsonLines(
        (
          await cli([
            'history',
            '--db',
            db,
            '--cluster',
            'orders',
            '--host',
            'db1',
            '--resource',
            'mysql.database shop',
            '--since',
            new Date(since).toISOString(),
            '--json',
          ])
        ).stdout,
      );
      return (
        h.some((r) => r.kind === 'action' && r.outcome === 'ok') &&
        h.some((r) => r.kind === 'drift' && r.outcome === 'resolved')
      );
    },
    60_000,
    250,
  );
  await waitFor(
    'dead/gone degraded, orders converged again',
    async () => {
      const rows = jsonLines((await cli(['status', '--db', db, '--json'])).stdout);
      const gone = rows.find((r) => r.cluster === 'dead');
      const degraded = (gone?.conditions as { type: string; status: string }[] | undefined)?.some(
        (c) => c.type === 'Degraded' && c.status === 'True',
      );
      return degraded === true && rows.filter((r) => r.cluster === 'orders').every((r) => r.state === 'converged');
    },
    60_000,
    250,
  );

  // The cluster pass's drift (db2 writable, not pointed at db1 at first) was resolved once it converged.
  const topo = await cli(['show', 'orders/*', '--db', db, '--json']);
  assert.equal(topo.code, 0, topo.stderr);
  assert.deepEqual((JSON.parse(topo.stdout) as { drift: unknown[] }).drift, [], topo.stdout);

  const dom = await chromium(['--dump-dom']);
  assert.equal(dom.code, 0, dom.stderr);
  const html = dom.stdout;
  const cellOf = (target: string) =>
    new RegExp(
      `<td class="cell (\\w+)" data-target="${target.replace(/[/*]/g, (c) => `\\${c}`)}" data-health="(\\w+)"`,
    ).exec(html)?.[2];
  assert.equal(cellOf('orders/db1'), 'ready', html);
  assert.equal(cellOf('orders/db2'), 'ready');
  assert.equal(cellOf('orders/*'), 'ready');
  assert.equal(cellOf('dead/gone'), 'degraded');
  const timeline = /<svg class="timeline" data-target="orders\/db1"[\s\S]*?<\/svg>/.exec(html)?.[0] ?? '';
  assert.match(timeline, /class="mark drift"[^>]*>\s*<title>[^<]* drift resolved: /);
  assert.match(timeline, /class="mark action ok"/);
  const dead = /<svg class="timeline" data-target="dead\/gone"[\s\S]*?<\/svg>/.exec(html)?.[0] ?? '';
  assert.match(dead, /class="mark error"/);
  assert.match(html, /<g class="node" data-member="db1" data-role="primary">/);
  assert.match(html, /<g class="node" data-member="db2" data-role="replica">/);
  assert.match(html, /<line class="edge ok"/);
  assert.match(html, /<figure class="topology" data-cluster="dead">[\s\S]*?no replication declared/);

  const shot = tmp.file('page.png');
  const s = await chromium([`--screenshot=${shot}`]);
  assert.equal(s.code, 0, s.stderr);
  const img = readPng(readFileSync(shot));
  assert.equal(img.width, 1200);
  assert.equal(img.height, 800);
  assert.ok(distinctColours(img) > 50, `a rendered page, not a blank one (${distinctColours(img)} colours)`);
  // Three ready cells (at least 130 x 40 px each), one degraded, the primary's node; white dominates.
  assert.ok(countColour(img, COLOURS.ready) > 3 * 130 * 40, `ready green: ${countColour(img, COLOURS.ready)} px`);
  assert.ok(countColour(img, COLOURS.degraded) > 130 * 40, `degraded orange: ${countColour(img, COLOURS.degraded)} px`);
  // The legends' swatches only (12 x 12 px each): no cell is stalled.
  assert.ok(countColour(img, COLOURS.stalled, 2) < 1000, 'nothing is stalled');
  assert.ok(countColour(img, '#ffffff', 0) > (img.width * img.height) / 3);
});
