/**
 * Benchmark 6, SSH: per host over 100 passes, the SSH connections opened (target: 1), the commands
 * each pass runs, and the time per pass, beside the same passes on the same servers without SSH.
 *
 *   npm run build && node --import tsx bench/ssh.ts [--passes 100]
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import type { PassOutcome } from '../src/loop/reconcile.js';
import type { Target } from '../src/loop/targets.js';
import { destroyAll, type LabHost } from '../lab/index.js';
import { fromDist } from './lib/dist.js';
import { benchAddress, join, mariadbSession, psqlSession, startHosts, workDir } from './lib/lab.js';
import {
  arg,
  machine,
  median,
  ms,
  printTable,
  progress,
  ratio,
  writeResult,
  type Figure,
  type Table,
} from './lib/report.js';
import {
  hostsBlock,
  mysqlCluster,
  mysqlDdl,
  PASSWORD,
  postgresCluster,
  postgresDdl,
  spec,
  type HostRef,
} from './lib/specs.js';

const { engines } = await fromDist<typeof import('../agents/index.js')>('agents/index.js');
const { silent } = await fromDist<typeof import('../src/log.js')>('src/log.js');
const { reconcile } = await fromDist<typeof import('../src/loop/reconcile.js')>('src/loop/reconcile.js');
const { targetsOf } = await fromDist<typeof import('../src/loop/targets.js')>('src/loop/targets.js');
const { parseSpec } = await fromDist<typeof import('../src/spec/load.js')>('src/spec/load.js');
const { SessionPool } = await fromDist<typeof import('../src/transport/sessions.js')>('src/transport/sessions.js');
const { SshPool } = await fromDist<typeof import('../src/transport/ssh.js')>('src/transport/ssh.js');

const PASSES = Number(arg('passes', '100'));
const HOSTS = 2;
const SETS = 10;

const started = Date.now();
const say = progress(started);
const dir = workDir('ssh');

function runSsh(args: string[]): Promise<void> {
  return new Promise((done, fail) => {
    const c = spawn('ssh', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    c.stderr.on('data', (d: Buffer) => (err += d.toString()));
    c.on('error', fail);
    c.on('close', (code) =>
      code === 0 ? done() : fail(new Error(`ssh ${args.slice(-2).join(' ').slice(0, 80)} exited ${code}: ${err}`)),
    );
  });
}

const accepted = (h: LabHost) =>
  (readFileSync(h.sshd?.logFile ?? '', 'utf8').match(/Accepted publickey/g) ?? []).length;

try {
  say(`starting ${HOSTS} hosts with sshd, MariaDB and PostgreSQL`);
  const first = await startHosts([
    { name: 's1', address: benchAddress(66, 1), mariadb: true, postgres: true, ssh: true, baseDir: dir },
  ]);
  const key = first[0]?.sshd?.clientKeyFile ?? '';
  const hosts = [
    ...first,
    ...(await startHosts(
      Array.from({ length: HOSTS - 1 }, (_, i) => ({
        name: `s${i + 2}`,
        address: benchAddress(66, i + 2),
        mariadb: true,
        postgres: true,
        ssh: { clientKeyFile: key },
        baseDir: dir,
      })),
    )),
  ];
  const pwFile = join(dir, 'pw');
  const knownHosts = join(dir, 'known_hosts');
  writeFileSync(pwFile, `${PASSWORD}\n`, { mode: 0o600 });
  writeFileSync(knownHosts, hosts.map((h) => h.sshd?.knownHostsLine ?? '').join('\n') + '\n');
  await Promise.all(
    hosts.map(async (h, i) => {
      await mariadbSession(h.address, mysqlDdl(i * 1000, i * 1000 + SETS));
      await psqlSession(h.address, 'postgres', postgresDdl(i * 1000, i * 1000 + SETS, [`b${i}`], true));
    }),
  );
  const refs = (withSsh: boolean): HostRef[] =>
    hosts.map((h, i) => ({
      name: `h${i}`,
      address: h.address,
      mysql: true,
      postgres: true,
      ...(withSsh
        ? {
            ssh: {
              key,
              knownHosts,
              status: h.mariadb?.scripts.status ?? 'true',
              start: h.mariadb?.scripts.start ?? 'true',
            },
          }
        : {}),
    }));
  const clusters = hosts
    .map(
      (_, i) =>
        mysqlCluster(`m${i}`, [`h${i}`], i * 1000, i * 1000 + SETS, pwFile) +
        postgresCluster(`p${i}`, [`h${i}`], i * 1000, i * 1000 + SETS, [`b${i}`]),
    )
    .join('');
  const withSsh = parseSpec(spec(hostsBlock(refs(true)), clusters), join(dir, 'ssh.yaml'), engines);
  const without = parseSpec(spec(hostsBlock(refs(false)), clusters), join(dir, 'plain.yaml'), engines);
  const acceptedBefore = hosts.map(accepted);
  const pool = new SessionPool();
  const ssh = new SshPool();
  const a = targetsOf(withSsh.spec, engines);
  const b = targetsOf(without.spec, engines);
  const runs = new Map<string, { ssh: PassOutcome[]; sshMs: number[]; plainMs: number[] }>();
  const pass = async (t: Target, version: string) => {
    const t0 = performance.now();
    const o = await reconcile(t, { pool, ssh, log: silent, specVersion: version }, { act: true });
    if (o.state !== 'converged')
      throw new Error(`${t.key}: ${o.state} ${o.error?.message ?? ''} ${JSON.stringify(o.drift?.slice(0, 2))}`);
    return { o, ms: performance.now() - t0 };
  };
  say(`${PASSES} passes per target, with and without SSH alternating, the hosts at once (as the daemon runs them)`);
  const commands = new Map<string, string>();
  await Promise.all(
    hosts.map(async (_, h) => {
      const mine = [...a.entries()].filter(([, t]) => t.host === `h${h}`);
      for (let p = 0; p < PASSES + 1; p++) {
        for (const [i, t] of mine) {
          const x = await pass(t, withSsh.version);
          const y = await pass(b[i] as Target, without.version);
          if (p === 0) {
            // The first pass connects. Then record the command(s) a pass sends, to replay them through OpenSSH.
            if (!commands.has(t.key) && t.hostSpec.ssh !== undefined) {
              const session = await ssh.get(t.host, t.hostSpec.address, t.hostSpec.ssh);
              const orig = session.exec.bind(session);
              session.exec = (command, opts) => {
                if (!commands.has(t.key)) commands.set(t.key, command);
                return orig(command, opts);
              };
            }
            continue;
          }
          let r = runs.get(t.key);
          if (r === undefined) runs.set(t.key, (r = { ssh: [], sshMs: [], plainMs: [] }));
          r.ssh.push(x.o);
          r.sshMs.push(x.ms);
          r.plainMs.push(y.ms);
        }
      }
    }),
  );
  const opened = ssh.opened;
  ssh.closeAll();
  await pool.closeAll();
  const acceptedAfter = hosts.map(accepted);

  // The floor of the SSH part: the same command through OpenSSH's client over one multiplexed connection.
  say('the same commands through OpenSSH (ControlMaster), for the floor');
  const openssh: number[] = [];
  for (const [k, command] of commands) {
    const h = hosts[Number(k.split('/h')[1])] as LabHost;
    const args = h.sshd?.sshArgs() ?? [];
    const opts = args.slice(0, -1);
    const dest = args[args.length - 1] as string;
    const ctl = join(dir, `ctl-${k.replace('/', '-')}`);
    await runSsh([
      ...opts,
      '-o',
      'ControlMaster=yes',
      '-o',
      `ControlPath=${ctl}`,
      '-o',
      'ControlPersist=60',
      '-N',
      '-f',
      dest,
    ]);
    for (let i = 0; i < 21; i++) {
      const t0 = performance.now();
      await runSsh([...opts, '-o', `ControlPath=${ctl}`, dest, command]);
      if (i > 0) openssh.push(performance.now() - t0);
    }
    await runSsh([...opts, '-o', `ControlPath=${ctl}`, '-O', 'exit', dest]).catch(() => undefined);
  }
  const table: Table = {
    title: `SSH over ${PASSES} passes per target (${HOSTS} hosts, each with a mysql and a postgres target sharing the host's SSH connection)`,
    headers: ['TARGET', 'SSH LOGINS (sshd log)', 'COMMANDS PER PASS', 'PASS WITH SSH', 'PASS WITHOUT SSH', 'RATIO'],
    rows: a.map((t) => {
      const r = runs.get(t.key);
      const host = Number(t.host.slice(1));
      const cmds = [...new Set(r?.ssh.map((o) => o.commands))];
      return [
        t.key,
        `${(acceptedAfter[host] ?? 0) - (acceptedBefore[host] ?? 0)} (host ${t.host})`,
        cmds.join(', '),
        ms(median(r?.sshMs ?? [])),
        ms(median(r?.plainMs ?? [])),
        ratio(median(r?.sshMs ?? []), median(r?.plainMs ?? [])),
      ];
    }),
  };
  printTable(table);
  const logins = hosts.map((h, i) => (acceptedAfter[i] ?? 0) - (acceptedBefore[i] ?? 0));
  const allCmds = [...new Set([...runs.values()].flatMap((r) => r.ssh.map((o) => o.commands)))];
  const sshMs = median([...runs.values()].flatMap((r) => r.sshMs));
  const plainMs = median([...runs.values()].flatMap((r) => r.plainMs));
  const figures: Figure[] = [
    {
      figure: `SSH connections opened per host over ${PASSES} passes (sshd "Accepted publickey"; SshPool.opened = ${opened} for ${HOSTS} hosts)`,
      value: logins.join(' / '),
      target: '1',
      met: logins.every((n) => n === 1) && opened === HOSTS,
    },
    { figure: 'SSH commands per pass (PassOutcome.commands)', value: allCmds.join(', '), target: '-' },
    {
      figure: 'time per pass with SSH (facts and service status over SSH)',
      value: ms(sshMs),
      target: '-',
      floor: `${ms(plainMs)} (same pass without SSH)`,
      ratio: ratio(sshMs, plainMs),
    },
    {
      figure: 'SSH part of a pass (with minus without)',
      value: ms(sshMs - plainMs),
      target: '-',
      floor: `${ms(median(openssh))} (the same command, OpenSSH client, ControlMaster)`,
      ratio: ratio(sshMs - plainMs, median(openssh)),
    },
  ];
  writeResult({
    name: 'ssh',
    title: '6. SSH',
    command: 'node --import tsx bench/ssh.ts',
    startedAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    machine: machine(),
    method: [
      `${HOSTS} lab hosts (127.0.66.1-${HOSTS}) with sshd (port 2222), MariaDB and PostgreSQL; each host carries a mysql cluster and a postgres cluster (${SETS} object sets each), declared with ssh (strict known_hosts) and service commands, so each pass also observes the host's facts and service over SSH. The passes run in-process from dist/ (reconcile with act: true, a SessionPool and an SshPool kept across passes, as the daemon keeps them).`,
      `${PASSES} passes per target after a first one that connects; each pass with SSH is followed by the same target's pass from a copy of the file without ssh/service on the same servers and connections, so the two are measured side by side; the two hosts run at once. SSH logins are counted twice: SshPool.opened, and "Accepted publickey" lines in each sshd's log (LogLevel INFO) during the passes. COMMANDS PER PASS is PassOutcome.commands.`,
      "Floor of the SSH part: the exact command a pass sent (captured by wrapping the session's exec()), run 20 times through the OpenSSH client over one ControlMaster connection (wall time of each `ssh -o ControlPath=... host COMMAND`, the client's own start-up of a few ms included). On this machine every command over SSH costs ~100 ms on the server side before it starts: sshd runs it with root's login shell, bash, which reads ~/.bashrc when started by sshd, and root's ~/.bashrc runs `pyenv init` (~100-150 ms). OpenSSH pays the same, which is why the floor is what it is; on a host with a plain shell the SSH part is a few ms.",
    ],
    figures,
    tables: [table],
    raw: {
      openssh,
      commands: Object.fromEntries(commands),
      runs: Object.fromEntries(
        [...runs].map(([k, r]) => [k, { sshMs: r.sshMs, plainMs: r.plainMs, commands: r.ssh.map((o) => o.commands) }]),
      ),
    },
  });
} finally {
  await destroyAll();
}
