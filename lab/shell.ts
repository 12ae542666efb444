// Shell snippets shared by the generated service scripts (start.sh, stop.sh, ...). The scripts are
// run by /bin/sh (dash) as root with no environment, typically through an SSH session, so they set
// PATH themselves, use absolute paths for the servers, and redirect every stdio of the servers they launch.
import { shq } from './commands.js';

/**
 * Defines `alive PID` (process exists, is not a zombie, and its command line contains MARKER) and
 * `pidof_instance` (prints the pid from PIDFILE when alive). PID 1 here is not an init, so a dead
 * daemon can stay a zombie for a while: state Z counts as exited.
 */
export function aliveFunctions(pidFile: string, marker: string): string {
  return `PIDFILE=${shq(pidFile)}
MARKER=${shq(marker)}
alive() {
  st=$(sed -n 's/^.*) \\(.\\) .*$/\\1/p' "/proc/$1/stat" 2>/dev/null)
  [ -n "$st" ] || return 1
  [ "$st" != Z ] || return 1
  [ "$st" != X ] || return 1
  tr '\\000' ' ' < "/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$MARKER"
}
pidof_instance() {
  pid=$(head -n 1 "$PIDFILE" 2>/dev/null)
  case "$pid" in ''|*[!0-9]*) return 1 ;; esac
  alive "$pid" || return 1
  echo "$pid"
}
`;
}

/** Body of a stop script: SIGTERM (or `signal`) the instance, wait, SIGKILL after `killAfterS`. */
export function stopBody(what: string, sig: string, killAfterS = 60): string {
  const ticks = killAfterS * 20;
  return `pid=$(pidof_instance) || exit 0
kill -${sig} "$pid" 2>/dev/null
i=0
while alive "$pid"; do
  i=$((i + 1))
  if [ "$i" -eq ${ticks} ]; then echo "${what} ($pid) ignored SIG${sig} for ${killAfterS}s: sending SIGKILL" >&2; kill -KILL "$pid" 2>/dev/null; fi
  if [ "$i" -ge ${ticks + 200} ]; then echo "${what} ($pid) did not exit" >&2; exit 1; fi
  sleep 0.05
done
exit 0
`;
}

export const statusBody = `if pid=$(pidof_instance); then echo "running (pid $pid)"; exit 0; fi
echo "not running"
exit 3
`;
