import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { parseFacts, factsScript } from '../../agents/host/facts.js';
import { checkKnownHosts, knownHostsName, shq } from '../../src/transport/ssh.js';
import { DisruptionGate, checkWindow, windowState } from '../../src/loop/windows.js';
import { serviceCommands } from '../../src/loop/reconcile.js';
import { restartChange } from '../../agents/host/services.js';
import type { KindContext } from '../../src/engine.js';
import type { Target } from '../../src/loop/targets.js';

const KEY = 'AAAAC3NzaC1lZDI1NTE5AAAAIB5m3xqVn2Yo0l8pYz6m2n9o3Yk8c4Yx1q5o1k6m9vX7';
const OTHER = 'AAAAC3NzaC1lZDI1NTE5AAAAIK9l2Wc6f2q8t0q1V6l8p2w4n7Y8c6o0Y1u3k5v7b9Z1';

function hashed(name: string): string {
  const salt = randomBytes(20);
  return `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`;
}

test('known_hosts: plain, bracketed port, hashed, patterns, negation, revoked, mismatch', () => {
  assert.equal(knownHostsName('10.0.0.1', 22), '10.0.0.1');
  assert.equal(knownHostsName('10.0.0.1', 2222), '[10.0.0.1]:2222');
  const text = [
    '# comment',
    `10.0.0.1 ssh-ed25519 ${KEY}`,
    `[10.0.0.2]:2222 ssh-ed25519 ${KEY} root@somewhere`,
    `${hashed('[10.0.0.3]:2222')} ssh-ed25519 ${KEY}`,
    `db*.example.com,!dbx.example.com ssh-ed25519 ${KEY}`,
    `@revoked * ssh-ed25519 ${OTHER.replace('K9', 'Q9')}`,
    `10.0.0.9 ssh-rsa AAAAB3NzaC1yc2EAAAADAQAB`,
  ].join('\n');
  assert.equal(checkKnownHosts(text, '10.0.0.1', 22, 'ssh-ed25519', KEY), 'match');
  assert.equal(checkKnownHosts(text, '10.0.0.1', 22, 'ssh-ed25519', OTHER), 'mismatch');
  assert.equal(checkKnownHosts(text, '10.0.0.1', 2222, 'ssh-ed25519', KEY), 'unknown', 'another port is another host');
  assert.equal(checkKnownHosts(text, '10.0.0.2', 2222, 'ssh-ed25519', KEY), 'match');
  assert.equal(checkKnownHosts(text, '10.0.0.3', 2222, 'ssh-ed25519', KEY), 'match', 'hashed entry');
  assert.equal(checkKnownHosts(text, '10.0.0.3', 2222, 'ssh-ed25519', OTHER), 'mismatch', 'hashed entry, other key');
  assert.equal(checkKnownHosts(text, 'db7.example.com', 22, 'ssh-ed25519', KEY), 'match', 'wildcard');
  assert.equal(checkKnownHosts(text, 'dbx.example.com', 22, 'ssh-ed25519', KEY), 'unknown', 'negated');
  assert.equal(
    checkKnownHosts(text, '10.0.0.9', 22, 'ssh-ed25519', KEY),
    'mismatch',
    'a known host with only another key type is refused',
  );
  assert.equal(checkKnownHosts(text, '10.0.0.4', 22, 'ssh-ed25519', OTHER.replace('K9', 'Q9')), 'revoked');
  assert.equal(checkKnownHosts('', '10.0.0.1', 22, 'ssh-ed25519', KEY), 'unknown');
});

test('known_hosts: entries hashed by ssh-keygen -H are recognised', () => {
  const plain = `[127.0.0.5]:2222 ssh-ed25519 ${KEY}\n`;
  const dir = execFileSync('mktemp', ['-d']).toString().trim();
  const file = `${dir}/known_hosts`;
  execFileSync('sh', [
    '-c',
    `printf '%s' "$1" > "$2" && ssh-keygen -H -f "$2" >/dev/null 2>&1 && cat "$2"`,
    'sh',
    plain,
    file,
  ]);
  const text = execFileSync('cat', [file]).toString();
  execFileSync('rm', ['-rf', dir]);
  assert.match(text, /^\|1\|/);
  assert.equal(checkKnownHosts(text, '127.0.0.5', 2222, 'ssh-ed25519', KEY), 'match');
  assert.equal(checkKnownHosts(text, '127.0.0.6', 2222, 'ssh-ed25519', KEY), 'unknown');
});

test('shell quoting survives quotes, spaces, $ and backticks, and refuses NUL', () => {
  for (const word of ["it's", 'a b', '$(rm -rf /)', '`x`', "'';--", 'ü\\n']) {
    assert.equal(execFileSync('sh', ['-c', `printf '%s' ${shq(word)}`]).toString(), word);
  }
  assert.throws(() => shq('a\0b'));
});

test('facts: one script, parsed into stable values', () => {
  const script = factsScript('/var/lib/mysql', ['mariadb-server'], 'true');
  assert.match(script, /d='\/var\/lib\/mysql'/);
  const out = execFileSync('sh', ['-c', factsScript('/tmp', [], 'exit 3')]).toString();
  const f = parseFacts(out, true);
  assert.match(f.os, /\w/);
  assert.ok((f.cpus ?? 0) >= 1);
  assert.ok((f.memoryBytes ?? 0) > 0);
  assert.equal(f.dataDir, '/tmp');
  assert.equal(f.serviceActive, false);
  assert.ok(f.diskFreePercent !== null && f.diskFreePercent >= 0 && f.diskFreePercent <= 100);
  assert.equal(
    parseFacts(execFileSync('sh', ['-c', factsScript('/tmp', [], 'true')]).toString(), true).serviceActive,
    true,
  );
  assert.equal(parseFacts('', false).serviceActive, null);
});

test("maintenance windows: open inside [start, start + minutes), in the window's time zone", () => {
  const berlin3am = [{ cron: '0 3 * * *', minutes: 60, timezone: 'Europe/Berlin' }];
  // 03:00 in Berlin is 02:00 UTC in winter.
  assert.deepEqual(windowState(berlin3am, new Date('2026-11-26T02:30:00Z')), {
    open: true,
    until: new Date('2026-11-26T03:00:00Z'),
  });
  assert.deepEqual(windowState(berlin3am, new Date('2026-11-26T02:00:00Z')), {
    open: true,
    until: new Date('2026-11-26T03:00:00Z'),
  });
  assert.deepEqual(windowState(berlin3am, new Date('2026-11-26T03:00:00Z')), {
    open: false,
    next: new Date('2026-11-27T02:00:00Z'),
  });
  assert.deepEqual(windowState(berlin3am, new Date('2026-11-26T01:59:00Z')), {
    open: false,
    next: new Date('2026-11-26T02:00:00Z'),
  });
  // In summer, 03:00 Berlin is 01:00 UTC.
  assert.equal(windowState(berlin3am, new Date('2026-07-01T01:10:00Z')).open, true);
  const sunday = [{ cron: '0 2 * * 0', minutes: 120, timezone: 'UTC' }];
  assert.deepEqual(windowState(sunday, new Date('2026-11-26T12:00:00Z')), {
    open: false,
    next: new Date('2026-11-29T02:00:00Z'),
  });
  assert.equal(
    windowState([...sunday, ...berlin3am], new Date('2026-11-29T03:30:00Z')).open,
    true,
    'any window open is enough',
  );
  assert.deepEqual(windowState([], new Date()), { open: false });
  assert.match(checkWindow('61 * * * *', 'UTC') ?? '', /invalid cron expression/);
  assert.match(checkWindow('0 3 * * *', 'Mars/Olympus') ?? '', /unknown time zone/);
  assert.equal(checkWindow('0 3 * * 1-5', 'America/New_York'), undefined);
});

test('the disruption gate: a window, one member at a time, and only when the others are healthy', () => {
  const t = (host: string, windows = [{ cron: '* * * * *', minutes: 60, timezone: 'UTC' }]) =>
    ({ key: `c/${host}`, cluster: 'c', host, policy: { maintenanceWindows: windows } }) as unknown as Target;
  const members = ['c/a', 'c/b', 'c/c'];
  const health = new Map<string, boolean>();
  const gate = new DisruptionGate((k) => health.get(k));
  assert.deepEqual(gate.check(t('a', []), members), {
    allowed: false,
    reason: 'disruptive: no maintenance window is declared (policy.maintenanceWindows)',
    code: 'no-window',
  });
  assert.deepEqual(gate.check(t('a'), members), {
    allowed: false,
    reason: 'waiting: c/b of this cluster is not observed yet',
    code: 'member-unobserved',
  });
  health.set('c/b', true);
  health.set('c/c', true);
  assert.deepEqual(gate.check(t('a'), members), { allowed: true });
  assert.equal(gate.take(t('a')), true);
  assert.deepEqual(gate.check(t('b'), members), {
    allowed: false,
    reason: 'waiting: c/a of this cluster goes first (one host at a time)',
    code: 'one-at-a-time',
  });
  assert.equal(gate.take(t('b')), false);
  health.set('c/a', false);
  gate.release(t('a'));
  assert.deepEqual(gate.check(t('b'), members), {
    allowed: false,
    reason: 'waiting: c/a of this cluster is not healthy',
    code: 'member-unhealthy',
  });
  health.set('c/a', true);
  assert.deepEqual(gate.check(t('b'), members), { allowed: true });
  const closed = new DisruptionGate(
    () => true,
    () => new Date('2026-11-26T12:00:00Z'),
  );
  assert.deepEqual(closed.check(t('a', [{ cron: '0 2 * * 0', minutes: 60, timezone: 'UTC' }]), members), {
    allowed: false,
    reason: 'waiting for window 2026-11-29T02:00:00.000Z',
    code: 'window',
  });
});

test('service commands: systemd verbs on a unit; declared commands without restart make a restart wait, saying why', () => {
  assert.deepEqual(serviceCommands({ address: 'x', service: { unit: "maria'db" } }), {
    start: "systemctl start 'maria'\\''db'",
    stop: "systemctl stop 'maria'\\''db'",
    restart: "systemctl restart 'maria'\\''db'",
    reload: "systemctl reload 'maria'\\''db'",
    status: "systemctl is-active --quiet 'maria'\\''db'",
  });
  assert.deepEqual(
    serviceCommands({ address: 'x', service: { commands: { start: 'go', status: 'ok?', stop: 'halt' } } }),
    { start: 'go', status: 'ok?', stop: 'halt', restart: 'halt && go' },
  );
  const noRestart = serviceCommands({ address: 'x', service: { commands: { start: 'go', status: 'ok?' } } });
  assert.equal(noRestart?.restart, undefined);
  const ctx = {
    hostName: 'db1',
    ssh: { exec: () => Promise.reject(new Error('no')), where: 'x' },
    ...(noRestart === undefined ? {} : { service: noRestart }),
  } as unknown as KindContext;
  assert.match(
    restartChange(ctx, { kind: 'k', id: 'i', summary: 's' }).blocked ?? '',
    /^a restart needs a restart \(or stop\) command in hosts\.db1\.service\.commands/,
  );
});
