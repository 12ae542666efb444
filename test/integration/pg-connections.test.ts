/**
 * A PostgreSQL server with more databases in the file than its max_connections (127.0.32.1): setpoint
 * holds at most `connections` connections to other databases besides its admin one, whatever the
 * number of databases, and reads a database's catalogs only where the file declares something inside it.
 * A sampler watches pg_stat_activity the whole time.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { destroyAll, startHost, type LabHost } from '../../lab/index.js';
import { cli, jsonLines, tempDir } from '../helpers.js';

const tmp = tempDir('pg-connections');
const MAX_CONNECTIONS = 12;
const DATABASES = 40;
/** Databases with a schema declared inside: more than the bound, so connections must be taken in turn. */
const INSIDE = 10;
const BOUND = 2;
let host: LabHost;

before(async () => {
  host = await startHost({
    name: 'p1',
    address: '127.0.32.1',
    postgres: { extraConfig: { max_connections: String(MAX_CONNECTIONS) } },
  });
});

after(async () => {
  await destroyAll();
  tmp.cleanup();
});

function spec(): string {
  const names = Array.from({ length: DATABASES }, (_, i) => `shop_${String(i).padStart(3, '0')}`);
  return `version: 1
hosts:
  h: { address: ${host.address}, postgres: { user: postgres, connections: ${BOUND} } }
clusters:
  many:
    engine: postgres
    members: [h]
    roles:
${names.map((n) => `      - { name: ${n}_app, login: false }`).join('\n')}
    databases:
${names.map((n) => `      - { name: ${n} }`).join('\n')}
    schemas:
${names
  .slice(0, INSIDE)
  .map((n) => `      - { database: ${n}, name: books, owner: ${n}_app }`)
  .join('\n')}
    privileges:
${names.map((n) => `      - { database: ${n}, role: ${n}_app, on: database, privileges: [CONNECT, TEMPORARY] }`).join('\n')}
`;
}

/** Samples setpoint's connections (by application_name) every 20 ms until stopped; gives the most seen at once. */
function sampler(): { stop(): Promise<{ max: number; samples: number }> } {
  let running = true;
  const done = (async () => {
    const c = new pg.Client({ host: host.address, user: 'postgres', database: 'postgres' });
    c.on('error', () => undefined);
    await c.connect();
    let max = 0;
    let samples = 0;
    try {
      while (running) {
        const r = await c.query<{ n: string }>(
          "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE application_name LIKE 'setpoint%' AND backend_type = 'client backend'",
        );
        max = Math.max(max, Number(r.rows[0]?.n ?? 0));
        samples++;
        await new Promise((res) => setTimeout(res, 20));
      }
    } finally {
      await c.end();
    }
    return { max, samples };
  })();
  return {
    async stop() {
      running = false;
      return done;
    },
  };
}

test(`${DATABASES} databases on a server with max_connections ${MAX_CONNECTIONS}: converged with at most ${BOUND} + 1 connections, then a no-op`, async () => {
  const file = tmp.file('many.yaml', spec());
  const db = tmp.file('history.db');
  const watch = sampler();
  const apply = await cli(['apply', '-f', file, '--once', '--db', db]);
  const first = await watch.stop();
  assert.equal(apply.code, 0, apply.stdout + apply.stderr);
  assert.ok(first.samples > 10, `sampled ${first.samples} times`);
  assert.ok(first.max >= 1, 'the sampler saw setpoint connected');
  assert.ok(first.max <= BOUND + 1, `at most ${BOUND + 1} connections at once, saw ${first.max}`);
  console.log(`# converge: at most ${first.max} setpoint connections at once over ${first.samples} samples`);

  // Every database, grant and schema is there.
  const c = new pg.Client({ host: host.address, user: 'postgres', database: 'postgres' });
  await c.connect();
  try {
    const dbs = await c.query<{ n: string }>("SELECT COUNT(*) AS n FROM pg_database WHERE datname LIKE 'shop\\_%'");
    assert.equal(Number(dbs.rows[0]?.n), DATABASES);
    const granted = await c.query<{ n: string }>(
      "SELECT COUNT(*) AS n FROM pg_database d, aclexplode(d.datacl) x WHERE d.datname LIKE 'shop\\_%' AND pg_get_userbyid(x.grantee) = d.datname || '_app' AND x.privilege_type IN ('CONNECT', 'TEMPORARY')",
    );
    assert.equal(Number(granted.rows[0]?.n), DATABASES * 2);
  } finally {
    await c.end();
  }
  for (const i of [0, INSIDE - 1]) {
    const name = `shop_${String(i).padStart(3, '0')}`;
    const inside = new pg.Client({ host: host.address, user: 'postgres', database: name });
    await inside.connect();
    const r = await inside.query<{ o: string }>(
      "SELECT pg_get_userbyid(nspowner) AS o FROM pg_namespace WHERE nspname = 'books'",
    );
    await inside.end();
    assert.equal(r.rows[0]?.o, `${name}_app`);
  }

  // The next pass finds nothing to do, still within the bound.
  const again = sampler();
  const plan = await cli(['plan', '-f', file, '--json']);
  const second = await again.stop();
  assert.equal(plan.code, 0, plan.stdout + plan.stderr);
  assert.deepEqual(jsonLines(plan.stdout), []);
  assert.ok(second.max <= BOUND + 1, `a no-op pass: at most ${BOUND + 1} connections, saw ${second.max}`);
});
