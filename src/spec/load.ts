/**
 * Loads the desired-state file: YAML with source positions, validated with zod, every problem
 * reported at once as `FILE:LINE:COL path: message`. Secret references are checked to resolve,
 * and their values are dropped again: the loaded spec holds references only.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { Document, LineCounter, Node as YamlNode } from 'yaml';
import { z } from 'zod';
import type { AnyEngine } from '../engine.js';
import { SetpointError, SpecError, type SpecProblem } from '../errors.js';
import { describeRef, resolveSecret, secretRefs } from '../secret.js';
import { suggest } from '../names.js';
import { fastLoad } from './fast-yaml.js';
import { clusterSchema, hostSchema as hostSchemaOf } from './file-schema.js';
import { objectName, policySchema } from './schema.js';
import type { LoadedSpec, Spec } from './types.js';

/** The `yaml` package (positions, precise errors), loaded only when a file needs the slow path or a place is located. */
let yamlLib: typeof import('yaml') | undefined;
function yaml(): typeof import('yaml') {
  yamlLib ??= createRequire(import.meta.url)('yaml') as typeof import('yaml');
  return yamlLib;
}

type Path = (string | number)[];

/** Formats a document path the way users write it: `clusters.orders.users[2].host`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else {
      const s = String(seg);
      out += /^[A-Za-z_][A-Za-z0-9_-]*$/.test(s) ? (out === '' ? s : `.${s}`) : `[${JSON.stringify(s)}]`;
    }
  }
  return out;
}

/** Reads and validates a desired-state file; throws SpecError listing every problem. */
/** Options of loading. `secrets: false` skips checking that secret references resolve (linting a file away from its secrets). */
export interface LoadOptions {
  secrets?: boolean;
}

export async function loadSpec(
  file: string,
  engines: readonly AnyEngine[],
  opts: LoadOptions = {},
): Promise<LoadedSpec> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new SetpointError('spec.unreadable', `${file}: cannot read the desired-state file (${code})`, { cause: err });
  }
  return parseSpec(text, file, engines, opts);
}

/** Short content hash of a spec text: the version status and history refer to. */
export function specVersion(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 12);
}

/** Validates spec text; `file` is used in messages only. */
export function parseSpec(
  text: string,
  file: string,
  engines: readonly AnyEngine[],
  opts: LoadOptions = {},
): LoadedSpec {
  const problems: SpecProblem[] = [];
  // The document with positions is composed only when something is to be located (or the fast
  // path cannot decide): on a valid file of thousands of objects it is most of the load time.
  let composed: { doc: Document; lines: LineCounter } | undefined;
  const compose = () => {
    if (composed === undefined) {
      const lines = new (yaml().LineCounter)();
      composed = {
        doc: yaml().parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false, strict: true }),
        lines,
      };
    }
    return composed;
  };
  let data: unknown;
  const fast = fastLoad(text);
  if (fast !== undefined) data = fast.data;
  else {
    const { doc, lines } = compose();
    for (const e of doc.errors) {
      const pos = e.linePos?.[0] ?? lines.linePos(e.pos[0]);
      problems.push({ file, line: pos.line, col: pos.col, path: '', message: e.message.split('\n')[0] ?? e.message });
    }
    if (problems.length > 0) throw new SpecError(problems);
    try {
      data = doc.toJS({ maxAliasCount: 1000 });
    } catch (err) {
      throw new SpecError([{ file, line: 1, col: 1, path: '', message: (err as Error).message }]);
    }
  }
  const report = (path: Path, message: string, keyOf?: string) => {
    const { doc, lines } = compose();
    const offset = locate(doc, path, keyOf);
    const pos = lines.linePos(offset);
    problems.push({
      file,
      line: pos.line,
      col: pos.col,
      path: formatPath(keyOf === undefined ? path : [...path, keyOf]),
      message,
    });
  };

  const spec = validate(data, engines, report);
  if (spec !== undefined && opts.secrets !== false) checkSecrets(spec, report);
  if (problems.length > 0 || spec === undefined) {
    problems.sort((a, b) => a.line - b.line || a.col - b.col);
    throw new SpecError(problems);
  }
  return { file, text, version: specVersion(text), spec };
}

type Report = (path: Path, message: string, keyOf?: string) => void;

/**
 * Locates places of a loaded file for messages at run time (`FILE:LINE:COL path:`); the text is
 * parsed again only when something is to be located.
 */
export function locator(s: { file: string; text: string }): (path: Path) => string {
  let doc: { doc: Document; lines: LineCounter } | undefined;
  return (path) => {
    if (doc === undefined) {
      const lines = new (yaml().LineCounter)();
      doc = { doc: yaml().parseDocument(s.text, { lineCounter: lines }), lines };
    }
    const pos = doc.lines.linePos(locate(doc.doc, path));
    return `${s.file}:${pos.line}:${pos.col} ${formatPath(path)}:`;
  };
}

function forward(issues: readonly z.core.$ZodIssue[], base: Path, schema: z.ZodType, report: Report): void {
  for (const issue of issues) {
    const path = [...base, ...(issue.path as Path)];
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeys(schema, issue.path as Path);
      for (const key of issue.keys) {
        const hint = suggest(key, known);
        report(path, `unknown key "${key}"${hint === undefined ? '' : ` (did you mean "${hint}"?)`}`, key);
      }
    } else if (issue.code === 'invalid_type' && /received undefined$/.test(issue.message)) {
      const key = path[path.length - 1];
      report(path.slice(0, -1), `missing required key "${String(key)}"`);
    } else {
      report(path, issue.message.replace(/^Invalid input: /, ''));
    }
  }
}

function validate(data: unknown, engines: readonly AnyEngine[], report: Report): Spec | undefined {
  const engineNames = engines.map((e) => e.name);
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    report([], 'expected a mapping with version, hosts, clusters and policy');
    return undefined;
  }
  // Each section is checked on its own, so one bad section does not hide the problems of the others.
  const top = z.strictObject({
    version: z.literal(1, { error: 'expected version: 1' }),
    hosts: z.record(objectName, z.unknown()),
    clusters: z.record(objectName, z.unknown()).default({}),
    policy: z.unknown().optional(),
  });
  const parsed = top.safeParse(data);
  let ok = parsed.success;
  if (!parsed.success) forward(parsed.error.issues, [], top, report);
  const raw = data as Record<string, unknown>;
  const policy = policySchema.safeParse(raw.policy);
  if (!policy.success) {
    ok = false;
    forward(policy.error.issues, ['policy'], policySchema, report);
  }
  const asRecord = (v: unknown): Record<string, unknown> =>
    v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  const rawHosts = asRecord(raw.hosts);
  const rawClusters = asRecord(raw.clusters);
  const hostSchema = hostSchemaOf(engines);
  const hosts: Spec['hosts'] = {};
  for (const [name, rawHost] of Object.entries(rawHosts)) {
    const r = hostSchema.safeParse(rawHost);
    if (r.success) hosts[name] = r.data;
    else {
      ok = false;
      forward(r.error.issues, ['hosts', name], hostSchema, report);
    }
  }
  const clusters: Spec['clusters'] = {};
  const memberOf = new Map<string, string>();
  for (const [name, rawCluster] of Object.entries(rawClusters)) {
    const base: Path = ['clusters', name];
    const engineName = (rawCluster as { engine?: unknown } | null)?.engine;
    const engine = engines.find((e) => e.name === engineName);
    if (engine === undefined) {
      ok = false;
      if (engineName === undefined || rawCluster === null || typeof rawCluster !== 'object')
        report(base, `missing required key "engine" (one of: ${engineNames.join(', ')})`);
      else
        report(
          [...base, 'engine'],
          `unknown engine ${JSON.stringify(engineName)} (expected one of: ${engineNames.join(', ')})`,
        );
      continue;
    }
    const schema = clusterSchema(engine);
    const r = schema.safeParse(rawCluster);
    if (!r.success) {
      ok = false;
      forward(r.error.issues, base, schema, report);
      continue;
    }
    const cluster = r.data as Spec['clusters'][string];
    cluster.members.forEach((m, i) => {
      const host = hosts[m];
      if (!(m in rawHosts)) {
        ok = false;
        report([...base, 'members', i], `unknown host "${m}" (declare it under hosts)`);
      } else if (host !== undefined && host[engine.hostKey] === undefined) {
        ok = false;
        report(
          [...base, 'members', i],
          `host "${m}" has no ${engine.hostKey} connection (add hosts.${m}.${engine.hostKey})`,
        );
      }
      const key = `${engine.name}\0${m}`;
      const other = memberOf.get(key);
      if (other !== undefined) {
        ok = false;
        report(
          [...base, 'members', i],
          `host "${m}" is already a member of ${engine.name} cluster "${other}": one cluster per engine manages a server`,
        );
      } else memberOf.set(key, name);
    });
    engine.checkCluster?.(cluster, (path, message) => {
      ok = false;
      report([...base, ...path], message);
    });
    clusters[name] = cluster;
  }
  if (!ok || !policy.success) return undefined;
  return { version: 1, hosts, clusters, policy: policy.data };
}

/** Every secret reference must resolve now (regular files only, bounded, not empty); the value is dropped again at once. */
function checkSecrets(spec: Spec, report: Report): void {
  const seen = new Map<string, string | undefined>();
  for (const { ref, path } of [...secretRefs(spec.hosts, ['hosts']), ...secretRefs(spec.clusters, ['clusters'])]) {
    const k = describeRef(ref);
    if (!seen.has(k)) {
      try {
        resolveSecret(ref);
        seen.set(k, undefined);
      } catch (err) {
        seen.set(k, (err as Error).message);
      }
    }
    const problem = seen.get(k);
    if (problem !== undefined) report(path, problem);
  }
}

/** Offset in the text of the node at `path` (or of the key `keyOf` inside it); the nearest existing parent otherwise. */
function locate(doc: Document, path: Path, keyOf?: string): number {
  let node: unknown = doc.contents;
  let offset = doc.contents?.range?.[0] ?? 0;
  const steps = keyOf === undefined ? path : [...path, keyOf];
  const { isMap, isPair, isScalar, isSeq } = yaml();
  for (let i = 0; i < steps.length; i++) {
    const seg = steps[i];
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
      if (pair === undefined) break;
      const isLastKey = keyOf !== undefined && i === steps.length - 1;
      const keyNode = pair.key as YamlNode;
      if (isLastKey || pair.value === null) {
        offset = keyNode.range?.[0] ?? offset;
        node = undefined;
        if (isLastKey) break;
        continue;
      }
      node = pair.value;
      offset = (pair.value as YamlNode).range?.[0] ?? keyNode.range?.[0] ?? offset;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg] as YamlNode | undefined;
      if (item === undefined) break;
      node = item;
      offset = item.range?.[0] ?? offset;
    } else break;
  }
  return offset;
}

/** The keys a strict object schema expects at `path`, looking through wrappers, arrays and records. */
/* eslint-disable @typescript-eslint/no-explicit-any -- walks zod's internal definitions, which are untyped here */
function knownKeys(schema: z.ZodType, path: Path): string[] {
  let s: any = schema;
  const unwrap = () => {
    for (let n = 0; n < 20 && s?._zod?.def !== undefined; n++) {
      const d = s._zod.def;
      if (
        d.type === 'optional' ||
        d.type === 'default' ||
        d.type === 'nullable' ||
        d.type === 'readonly' ||
        d.type === 'prefault' ||
        d.type === 'catch'
      )
        s = d.innerType;
      else if (d.type === 'pipe') s = d.in;
      else if (d.type === 'lazy') s = d.getter();
      else return;
    }
  };
  unwrap();
  for (const seg of path) {
    const d = s?._zod?.def;
    if (d === undefined) return [];
    if (d.type === 'object') s = d.shape[seg];
    else if (d.type === 'array') s = d.element;
    else if (d.type === 'record') s = d.valueType;
    else if (d.type === 'union') s = d.options.find((o: any) => o?._zod?.def?.type === 'object') ?? d.options[0];
    else return [];
    unwrap();
  }
  const d = s?._zod?.def;
  if (d?.type === 'union') {
    const obj = d.options.find((o: any) => o?._zod?.def?.type === 'object');
    return obj === undefined ? [] : Object.keys(obj._zod.def.shape);
  }
  return d?.type === 'object' ? Object.keys(d.shape) : [];
}
/* eslint-enable @typescript-eslint/no-explicit-any */
