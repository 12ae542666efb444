/**
 * GTIDs as each flavor writes them, and the one question the replication pass asks of them: what
 * does this member have that that one lacks (errant transactions)?
 *
 * MariaDB: `domain-server-seq` lists. gtid_binlog_state holds the last seq of every (domain, server)
 * pair a server logged; with log_slave_updates a replica logs what it replays under the origin's
 * server id, so a pair the primary does not have (or has with a lower seq) is a transaction the
 * primary never saw. MySQL: `uuid:1-5:7` sets; errant = replica's gtid_executed minus the primary's.
 */

/** MariaDB: (domain, server) -> last seq. */
export type MariadbState = Map<string, bigint>;

export function parseMariadbGtids(text: string): MariadbState {
  const out: MariadbState = new Map();
  for (const part of text.split(',')) {
    const m = /^\s*(\d+)-(\d+)-(\d+)\s*$/.exec(part);
    if (m === null) continue;
    const k = `${m[1]}-${m[2]}`;
    const seq = BigInt(m[3] as string);
    const prev = out.get(k);
    if (prev === undefined || seq > prev) out.set(k, seq);
  }
  return out;
}

/** MySQL: uuid (lower case) -> sorted, merged intervals [start, end]. */
export type MysqlSet = Map<string, [bigint, bigint][]>;

export function parseMysqlGtidSet(text: string): MysqlSet {
  const out: MysqlSet = new Map();
  for (const part of text.replace(/\s+/g, '').split(',')) {
    if (part === '') continue;
    const [uuid, ...ranges] = part.split(':');
    if (uuid === undefined || ranges.length === 0) continue;
    const list = out.get(uuid.toLowerCase()) ?? [];
    for (const r of ranges) {
      const m = /^(\d+)(?:-(\d+))?$/.exec(r);
      if (m === null) continue;
      list.push([BigInt(m[1] as string), BigInt(m[2] ?? (m[1] as string))]);
    }
    out.set(uuid.toLowerCase(), merge(list));
  }
  return out;
}

function merge(list: [bigint, bigint][]): [bigint, bigint][] {
  const sorted = [...list].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const out: [bigint, bigint][] = [];
  for (const [s, e] of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && s <= last[1] + 1n) last[1] = e > last[1] ? e : last[1];
    else out.push([s, e]);
  }
  return out;
}

function formatMysql(set: MysqlSet): string {
  return [...set]
    .filter(([, r]) => r.length > 0)
    .map(([u, r]) => `${u}:${r.map(([s, e]) => (s === e ? `${s}` : `${s}-${e}`)).join(':')}`)
    .join(',');
}

/** MySQL: a minus b. */
export function subtractMysql(a: MysqlSet, b: MysqlSet): MysqlSet {
  const out: MysqlSet = new Map();
  for (const [uuid, ranges] of a) {
    const cut = b.get(uuid) ?? [];
    const left: [bigint, bigint][] = [];
    for (const [s0, e] of ranges) {
      let s = s0;
      for (const [cs, ce] of cut) {
        if (ce < s || cs > e) continue;
        if (cs > s) left.push([s, cs - 1n]);
        s = ce + 1n;
        if (s > e) break;
      }
      if (s <= e) left.push([s, e]);
    }
    if (left.length > 0) out.set(uuid, left);
  }
  return out;
}

/**
 * The transactions `member` has that `primary` lacks, as text (empty when none). `flavor` picks the
 * notation: MariaDB gtid_binlog_state lists, MySQL gtid_executed sets.
 */
export function errantGtids(member: string, primary: string, flavor: 'mysql' | 'mariadb'): string {
  if (flavor === 'mysql') return formatMysql(subtractMysql(parseMysqlGtidSet(member), parseMysqlGtidSet(primary)));
  const p = parseMariadbGtids(primary);
  const out: string[] = [];
  for (const [k, seq] of parseMariadbGtids(member)) {
    const have = p.get(k);
    if (have === undefined || have < seq) out.push(`${k}-${seq}`);
  }
  return out.join(',');
}

/**
 * MariaDB: whether `binlog` covers `slave` in every domain (so gtid_slave_pos may be set from
 * gtid_binlog_pos without replaying anything twice), from the positions' last seq per domain.
 */
export function binlogCovers(binlog: string, slave: string): boolean {
  const seqOf = (text: string) => {
    const m = new Map<string, bigint>();
    for (const [k, seq] of parseMariadbGtids(text)) {
      const d = k.split('-')[0] as string;
      const prev = m.get(d);
      if (prev === undefined || seq > prev) m.set(d, seq);
    }
    return m;
  };
  const b = seqOf(binlog);
  for (const [d, seq] of seqOf(slave)) if ((b.get(d) ?? -1n) < seq) return false;
  return true;
}
