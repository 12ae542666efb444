import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

test('config/setpoint.service passes systemd-analyze verify, with no warning', () => {
  // systemd-analyze prints parse problems as warnings and still exits 0: any output is a failure.
  const r = spawnSync('systemd-analyze', ['verify', 'config/setpoint.service'], { encoding: 'utf8' });
  assert.equal(r.error, undefined, 'systemd-analyze is installed (Debian package systemd)');
  assert.equal(r.status, 0, r.stderr);
  assert.equal((r.stdout + r.stderr).trim(), '');
});

test('the unit runs the daemon as an unprivileged user with a state directory, restarts on failure, and is sandboxed', () => {
  const unit = readFileSync('config/setpoint.service', 'utf8');
  for (const line of [
    'User=setpoint',
    'StateDirectory=setpoint',
    'Restart=on-failure',
    'ProtectSystem=strict',
    'NoNewPrivileges=yes',
    'ExecReload=/bin/kill -HUP $MAINPID',
    'UMask=0077',
    // Optional: { env: NAME } secrets for the service, from a root-only file (README says how).
    'EnvironmentFile=-/etc/setpoint/env',
  ]) {
    assert.ok(unit.split('\n').includes(line), line);
  }
  assert.match(
    unit,
    /^ExecStart=\/usr\/bin\/node \/opt\/setpoint\/dist\/bin\/setpoint\.js run -f \/etc\/setpoint\/setpoint\.yaml$/m,
  );
});
