/**
 * `npm run demo`: two throwaway MariaDB servers on 127.0.77.1 and .2 (the lab the tests use), a demo
 * desired-state file, and the daemon converging them with readable logs. After the first convergence
 * the demo drops a database by hand and setpoint puts it back. Ctrl-C (SIGINT), SIGTERM, SIGHUP, SIGPIPE
 * or the reader of its output going away stop the daemon and remove everything the demo started. Needs root (the servers run as the mysql user) and Debian's
 * mariadb-server. `--no-perturb`: do not drop the database; `--addresses A1,A2`: other 127.x addresses.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { engines } from '../agents/index.js';
import { Daemon } from '../src/daemon.js';
import { createLogger, flushLogs } from '../src/log.js';
import { startHost, type LabHost } from './index.js';

/** The demo's desired state: two MariaDB servers in one cluster. */
function demoSpec(a1: string, a2: string, pwFile: string): string {
  return `# setpoint demo: edit this file while the demo runs and watch the loop react.
# Try: add a user, add a privilege, change a charset, set mode: observe, or break the YAML on purpose.
version: 1
hosts:
  db1:
    address: ${a1}
    mysql: { port: 3306, user: root }
  db2:
    address: ${a2}
    mysql: { port: 3306, user: root }
clusters:
  shop:
    engine: mysql
    members: [db1, db2]
    databases:
      - { name: shop, charset: utf8mb4, collation: utf8mb4_unicode_ci }
      - { name: "analytics 2026", charset: utf8mb4 }
    users:
      - name: app
        host: "127.%"
        password: { file: ${pwFile} }
        maxConnections: 50
        grants:
          - { privileges: [SELECT, INSERT, UPDATE, DELETE], on: "shop.*" }
      - name: reporting
        host: "%"
        password: { file: ${pwFile} }
        grants:
          - { privileges: [SELECT], on: "\`analytics 2026\`.*" }
          - { privileges: [SELECT], on: "shop.*" }
policy:
  resyncSeconds: 5
`;
}

async function demo(perturb: boolean, [a1, a2]: [string, string]): Promise<number> {
  if (process.getuid?.() !== 0) {
    process.stderr.write(
      'setpoint demo: run it as root (e.g. sudo npm run demo): the lab servers run as the mysql user.\n',
    );
    return 1;
  }
  const dir = await mkdtemp(join(tmpdir(), 'setpoint-demo-'));
  // Whatever stops the demo (Ctrl-C, a kill, the reader of its output going away: `npm run demo | tee
  // log` stopped with Ctrl-C kills tee first), it stops the daemon and removes what it started.
  let stopped: string | undefined;
  let resolveStop!: (why: string) => void;
  const stopRequested = new Promise<string>((r) => (resolveStop = r));
  const stop = (why: string) => {
    stopped ??= why;
    resolveStop(why);
  };
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGPIPE'] as const;
  const onSignal = (sig: NodeJS.Signals) => stop(sig);
  for (const sig of signals) process.on(sig, onSignal);
  let readerGone = false;
  const onOutputError = () => {
    readerGone = true;
    stop('output closed');
  };
  process.stdout.on('error', onOutputError);
  process.stderr.on('error', onOutputError);
  // Once the reader is gone, logs go nowhere (writing to a closed pipe is what stopped us).
  const out = new Writable({
    write(chunk: Buffer, _enc, done) {
      if (!readerGone) process.stdout.write(chunk);
      done();
    },
  });
  const log = createLogger({ json: false, stream: Object.assign(out, { isTTY: process.stdout.isTTY }) });
  const say = (text: string) => {
    if (!readerGone) process.stdout.write(text);
  };
  let hosts: LabHost[] = [];
  try {
    log.info('starting two MariaDB servers (about 5 s the first time)…');
    const started = await Promise.allSettled([
      startHost({ name: 'db1', address: a1, baseDir: dir, mariadb: true }),
      startHost({ name: 'db2', address: a2, baseDir: dir, mariadb: true }),
    ]);
    hosts = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failed = started.find((r) => r.status === 'rejected');
    // A stop during start-up (the lab's own signal handler destroys servers still starting) is a stop, not an error.
    if (stopped !== undefined) return 0;
    if (failed !== undefined) throw failed.reason;
    const pwFile = join(dir, 'app.password');
    await writeFile(pwFile, randomBytes(12).toString('base64url') + '\n', { mode: 0o600 });
    const file = join(dir, 'setpoint.yaml');
    await writeFile(file, demoSpec(a1, a2, pwFile));
    const db = join(dir, 'history.db');
    const bin = `node ${relative(process.cwd(), resolve(import.meta.dirname, '..', 'dist', 'bin', 'setpoint.js'))}`;
    say(
      `\n  Desired state: ${file}\n  History:       ${db}\n\n` +
        `  In another terminal (\`setpoint\` once it is on your PATH, see README):\n    ${bin} status --db ${db}\n    ${bin} history --db ${db}\n` +
        `    ${bin} plan -f ${file}\n    $EDITOR ${file}\n\n  Ctrl-C stops and cleans up.\n\n`,
    );
    let perturbed = !perturb;
    const daemon = await Daemon.start({
      file,
      db,
      engines,
      log,
      stopTimeoutSeconds: 5,
      onPass: (o) => {
        if (perturbed || o.state !== 'converged' || o.target.host !== 'db1') return;
        perturbed = true;
        setTimeout(() => {
          log.info(
            'demo: dropping database `shop` on db1 by hand, as a careless human might; watch setpoint put it back',
          );
          hosts[0]?.mariadb
            ?.sql('DROP DATABASE shop')
            .catch((err: unknown) => log.warn('demo: could not drop the database', { error: String(err) }));
        }, 3000).unref();
      },
    });
    void stopRequested.then((why) => daemon.stop(why));
    await Promise.race([daemon.stopped, stopRequested.then(() => daemon.stopped)]);
    return 0;
  } finally {
    log.info('removing the demo servers and files…');
    await Promise.allSettled(hosts.map((h) => h.destroy()));
    await rm(dir, { recursive: true, force: true });
    // Pending log lines go out while SIGPIPE is still handled: without a handler it would kill us on a closed pipe.
    flushLogs();
    for (const sig of signals) process.off(sig, onSignal);
  }
}

// `--addresses A1,A2`: other loopback addresses than 127.0.77.1 and .2 (the first-hour test uses its own range).
const at = process.argv.indexOf('--addresses');
const addresses = (at === -1 ? '127.0.77.1,127.0.77.2' : (process.argv[at + 1] ?? '')).split(',');
process.exitCode = await demo(!process.argv.includes('--no-perturb'), [addresses[0] ?? '', addresses[1] ?? '']);
