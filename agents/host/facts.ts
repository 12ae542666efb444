/** host.facts: what the host is (OS, kernel, CPUs, memory, disk of the data directory, package, service), over SSH. */
import { itemsOnly, type ResourceKind } from '../../src/engine.js';
import { shq, type Shell } from '../../src/transport/ssh.js';

export interface HostFacts {
  os: string;
  kernel: string;
  /** Boot time, so that uptime can be shown without the observation changing every pass. */
  bootedAt: string | null;
  cpus: number | null;
  memoryBytes: number | null;
  dataDir: string | null;
  diskBytes: number | null;
  /** Free space on the data directory's file system, rounded to 1% of it (so the record changes rarely). */
  diskFreeBytes: number | null;
  diskFreePercent: number | null;
  /** `name version` of the database server package, when one of the engine's packages is installed. */
  package: string | null;
  /** Whether the database service is running (null when the host declares no service). */
  serviceActive: boolean | null;
}

/** One shell script, one round trip: key=value lines. */
export function factsScript(
  dataDir: string | undefined,
  packages: readonly string[],
  statusCommand: string | undefined,
): string {
  const pk = packages.map(shq).join(' ');
  return [
    `d=${shq(dataDir ?? '/')}`,
    `[ -d "$d" ] || d=/`,
    `printf 'os=%s\\n' "$( (. /etc/os-release 2>/dev/null && printf '%s' "$PRETTY_NAME") || uname -s)"`,
    `printf 'kernel=%s\\n' "$(uname -r)"`,
    `awk '/^btime/ {print "boot=" $2}' /proc/stat 2>/dev/null`,
    `printf 'cpus=%s\\n' "$(getconf _NPROCESSORS_ONLN 2>/dev/null || nproc 2>/dev/null)"`,
    `awk '/^MemTotal:/ {print "memKb=" $2}' /proc/meminfo 2>/dev/null`,
    `df -Pk "$d" 2>/dev/null | awk 'NR==2 {print "diskKb=" $2; print "freeKb=" $4}'`,
    `printf 'dataDir=%s\\n' "$d"`,
    packages.length === 0
      ? ':'
      : `for p in ${pk}; do v=$(dpkg-query -W -f='\${Version}' "$p" 2>/dev/null || rpm -q --qf '%{VERSION}-%{RELEASE}' "$p" 2>/dev/null) && [ -n "$v" ] && { printf 'package=%s %s\\n' "$p" "$v"; break; }; done`,
    statusCommand === undefined ? ':' : `( ${statusCommand} ) >/dev/null 2>&1; printf 'service=%s\\n' "$?"`,
    'true',
  ].join('\n');
}

export function parseFacts(out: string, hasService: boolean): HostFacts {
  const kv = new Map<string, string>();
  for (const line of out.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) kv.set(line.slice(0, i), line.slice(i + 1).trim());
  }
  const num = (k: string) => {
    const v = Number(kv.get(k));
    return kv.has(k) && Number.isFinite(v) ? v : null;
  };
  const boot = num('boot');
  const diskKb = num('diskKb');
  const freeKb = num('freeKb');
  const percent = diskKb !== null && freeKb !== null && diskKb > 0 ? Math.round((freeKb / diskKb) * 100) : null;
  return {
    os: kv.get('os') ?? 'unknown',
    kernel: kv.get('kernel') ?? 'unknown',
    bootedAt: boot === null ? null : new Date(boot * 1000).toISOString(),
    cpus: num('cpus'),
    memoryBytes: num('memKb') === null ? null : (num('memKb') as number) * 1024,
    dataDir: kv.get('dataDir') ?? null,
    diskBytes: diskKb === null ? null : diskKb * 1024,
    diskFreeBytes: diskKb === null || percent === null ? null : Math.round((diskKb * 1024 * percent) / 100),
    diskFreePercent: percent,
    package: kv.get('package') ?? null,
    serviceActive: hasService ? kv.get('service') === '0' : null,
  };
}

/** Observes facts only: nothing to declare, nothing to change. */
export const facts: ResourceKind<never, HostFacts, Shell> = {
  kind: 'host.facts',
  transport: 'ssh',
  desired: () => new Map<string, never>(),
  probe(ctx) {
    return factsScript(ctx.facts.dataDir, ctx.facts.packages, ctx.service?.status);
  },
  parse(out, ctx) {
    return itemsOnly(new Map([[ctx.hostName, parseFacts(out.stdout, ctx.service !== undefined)]]));
  },
  async observe(shell, ctx) {
    const r = await shell.exec(this.probe?.(ctx) ?? 'true');
    return this.parse?.({ stdout: r.stdout, code: r.code ?? -1 }, ctx) ?? itemsOnly(new Map());
  },
  diff: () => [],
  plan: () => [],
};
