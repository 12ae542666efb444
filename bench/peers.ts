/**
 * The peer comparison (issue 12.6): the same desired state — N users/roles, each with its own database
 * and a grant on it — through Ansible's community.mysql / community.postgresql modules and through
 * `setpoint apply --once`, side by side on fresh lab servers (127.0.67.1-4), from empty and re-run.
 * It installs nothing: when Debian's `ansible` package (with python3-pymysql and python3-psycopg2) is
 * not there, it says so and records no figure.
 *
 *   node --import tsx bench/peers.ts [--n 50]
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { benchAddress, cli, runClient, startHosts, workDir } from './lib/lab.js';
import { arg, machine, ms, progress, ratio, writeResult, type Figure } from './lib/report.js';
import { destroyAll } from '../lab/index.js';

const N = Number(arg('n', '50'));
const PW = 'Peer-bench-pw-5Tq';
const log = progress(Date.now());
const started = Date.now();
const COMMAND = 'npm run build && node --import tsx bench/peers.ts [--n 50]';

const have = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const python = '/usr/bin/python3';
const pyHas = (mod: string) => spawnSync(python, ['-c', `import ${mod}`]).status === 0;
const missing = [
  ...(have('ansible-playbook') ? [] : ['ansible']),
  ...(pyHas('pymysql') ? [] : ['python3-pymysql']),
  ...(pyHas('psycopg2') ? [] : ['python3-psycopg2']),
];

if (missing.length > 0) {
  log(`not run: Debian's ${missing.join(', ')} not installed (this benchmark installs nothing)`);
  writeResult({
    name: 'peers',
    title: '9. Against a peer: Ansible',
    command: COMMAND,
    startedAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    machine: machine(),
    method: [
      `Not run: ${missing.join(', ')} not installed. \`apt-get install ansible python3-pymysql python3-psycopg2\`, then run it again.`,
    ],
    figures: [],
    tables: [],
  });
  process.exit(0);
}

const dir = workDir('peers');
const names = Array.from({ length: N }, (_, i) => String(i).padStart(4, '0'));
log(`starting 4 lab servers (a MariaDB and a PostgreSQL for each tool)`);
const [aMy, sMy, aPg, sPg] = await startHosts([
  { name: 'ansible-mariadb', address: benchAddress(67, 1), mariadb: true, baseDir: dir },
  { name: 'setpoint-mariadb', address: benchAddress(67, 2), mariadb: true, baseDir: dir },
  { name: 'ansible-postgres', address: benchAddress(67, 3), postgres: true, baseDir: dir },
  { name: 'setpoint-postgres', address: benchAddress(67, 4), postgres: true, baseDir: dir },
]);
if (aMy === undefined || sMy === undefined || aPg === undefined || sPg === undefined) throw new Error('lab');

const myLogin = `login_host: ${aMy.address}, login_port: 3306, login_user: root, login_password: ""`;
const pgLogin = `login_host: ${aPg.address}, login_port: 5432, login_user: postgres`;
const loop = `"{{ range(${N}) | list }}"`;
const item = "{{ '%04d' | format(item) }}";
const playbook = (engine: 'mysql' | 'postgres') => `- hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: ${python}
  tasks:
${
  engine === 'mysql'
    ? `    - community.mysql.mysql_db: { name: "db_${item}", state: present, ${myLogin} }
      loop: ${loop}
    - community.mysql.mysql_user: { name: "u_${item}", host: "%", password: "${PW}", priv: "db_${item}.*:SELECT,INSERT", ${myLogin} }
      loop: ${loop}
`
    : `    - community.postgresql.postgresql_user: { name: "u_${item}", password: "${PW}", db: postgres, ${pgLogin} }
      loop: ${loop}
    - community.postgresql.postgresql_db: { name: "db_${item}", ${pgLogin} }
      loop: ${loop}
    - community.postgresql.postgresql_privs: { db: postgres, type: database, objs: "db_${item}", privs: CONNECT, roles: "u_${item}", ${pgLogin} }
      loop: ${loop}
`
}`;
const spec = (engine: 'mysql' | 'postgres') => `version: 1
hosts:
  h: { address: ${engine === 'mysql' ? sMy.address : sPg.address}, ${engine}: { user: ${engine === 'mysql' ? 'root' : 'postgres'} } }
clusters:
  peers:
    engine: ${engine}
    members: [h]
    databases:
${names.map((n) => `      - { name: db_${n} }`).join('\n')}
${
  engine === 'mysql'
    ? `    users:
${names.map((n) => `      - { name: u_${n}, host: "%", password: { env: BENCH_PEER_PW }, grants: [{ privileges: [SELECT, INSERT], on: "db_${n}.*" }] }`).join('\n')}`
    : `    roles:
${names.map((n) => `      - { name: u_${n}, login: true, password: { env: BENCH_PEER_PW } }`).join('\n')}
    privileges:
${names.map((n) => `      - { database: db_${n}, role: u_${n}, on: database, privileges: [CONNECT] }`).join('\n')}`
}
`;

const ansibleEnv = {
  ...process.env,
  ANSIBLE_LOCALHOST_WARNING: 'false',
  ANSIBLE_INVENTORY_UNPARSED_WARNING: 'false',
  ANSIBLE_NOCOLOR: '1',
  ANSIBLE_RETRY_FILES_ENABLED: 'false',
};
async function ansible(book: string): Promise<{ ms: number; changed: number }> {
  const r = await runClient('ansible-playbook', ['-i', 'localhost,', book], '', ansibleEnv);
  if (r.code !== 0)
    throw new Error(`ansible-playbook ${book} exited ${r.code}: ${r.stdout.slice(-2000)}${r.stderr.slice(-1000)}`);
  const changed = Number(/changed=(\d+)/.exec(r.stdout)?.[1] ?? NaN);
  return { ms: r.wallMs, changed };
}
async function setpoint(file: string, db: string): Promise<{ ms: number }> {
  const r = await cli(['apply', '-f', file, '--once', '--db', db], { BENCH_PEER_PW: PW });
  if (r.code !== 0)
    throw new Error(`setpoint apply exited ${r.code}: ${r.stderr.slice(-2000)}${r.stdout.slice(-2000)}`);
  return { ms: r.wallMs };
}

const rows: string[][] = [];
const figures: Figure[] = [];
for (const engine of ['mysql', 'postgres'] as const) {
  const label = engine === 'mysql' ? 'MariaDB' : 'PostgreSQL';
  const book = join(dir, `${engine}.yml`);
  const file = join(dir, `${engine}.yaml`);
  writeFileSync(book, playbook(engine));
  writeFileSync(file, spec(engine));
  const db = join(dir, `${engine}.db`);
  log(`${label}: Ansible from empty (N = ${N})`);
  const a1 = await ansible(book);
  log(`${label}: Ansible ${ms(a1.ms)}, changed=${a1.changed}; re-run`);
  const a2 = await ansible(book);
  log(`${label}: Ansible re-run ${ms(a2.ms)}, changed=${a2.changed}; setpoint from empty`);
  const s1 = await setpoint(file, db);
  const s2 = await setpoint(file, db);
  log(`${label}: setpoint ${ms(s1.ms)}, re-run ${ms(s2.ms)}`);
  rows.push(
    [`${label}: converge from empty`, ms(a1.ms), ms(s1.ms), ratio(a1.ms, s1.ms), `changed=${a1.changed}`],
    [`${label}: re-run, nothing to do`, ms(a2.ms), ms(s2.ms), ratio(a2.ms, s2.ms), `changed=${a2.changed}`],
  );
  figures.push(
    {
      figure: `${label}, N = ${N}: converge from empty, Ansible / setpoint apply --once`,
      value: `${ms(a1.ms)} / ${ms(s1.ms)}`,
      target: '(reported)',
      ratio: ratio(a1.ms, s1.ms),
    },
    {
      figure: `${label}, N = ${N}: re-run with nothing to do, Ansible (changed=${a2.changed}) / setpoint`,
      value: `${ms(a2.ms)} / ${ms(s2.ms)}`,
      target: '(reported)',
      ratio: ratio(a2.ms, s2.ms),
    },
  );
}
await destroyAll();
writeResult({
  name: 'peers',
  title: '9. Against a peer: Ansible',
  command: COMMAND,
  startedAt: new Date(started).toISOString(),
  durationMs: Date.now() - started,
  machine: machine(),
  method: [
    `The same desired state through Debian's Ansible (${spawnSync('ansible-playbook', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0] ?? ''}; community.mysql.mysql_db / mysql_user, community.postgresql.postgresql_user / postgresql_db / postgresql_privs, connection: local, one task per object kind looping over the items) and through \`setpoint apply --once\`: ${N} users/roles, each with its own database and a grant on it (MariaDB: SELECT, INSERT on db_i.*; PostgreSQL: CONNECT on db_i), one password for all. Each tool has its own fresh lab server (MariaDB 10.11 on 127.0.67.1/.2, PostgreSQL 15 on 127.0.67.3/.4), converges it from empty, then runs again with nothing to do. Wall time of the whole command, start-up included. RATIO is Ansible's time over setpoint's; ANSIBLE'S RECAP is its PLAY RECAP's changed count (tasks that changed something: 0 on a re-run is Ansible finding nothing to do). \`--n\` sets N (the issue measured 200: 99 s / 94 s / 166 s for Ansible).`,
  ],
  figures,
  tables: [{ title: `N = ${N}`, headers: ['WORK', 'ANSIBLE', 'SETPOINT', 'RATIO', "ANSIBLE'S RECAP"], rows }],
});
