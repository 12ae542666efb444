/**
 * Health and Prometheus metrics over HTTP on a loopback address (off unless configured):
 * /healthz (the process answers), /readyz (a spec is in force and every target has been observed
 * successfully under it), /metrics (pass durations, drift per cluster, changes by outcome, queue depth,
 * observation age, a gauge per target and condition). /metrics passes `promtool check metrics`.
 * With a fleet source, a read-only status page at / (src/page.ts) and its data at /fleet.json.
 */
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { SetpointError } from './errors.js';
import type { PassOutcome } from './loop/reconcile.js';
import { fleetView, renderPage, type FleetSource } from './page.js';
import type { Condition } from './status.js';

export interface MetricsSource {
  /** The targets in force with the fingerprint of their part of the file, or undefined before a spec is loaded. */
  targets(): { key: string; fingerprint: string }[] | undefined;
  depth(): { ready: number; running: number; scheduled: number };
  /** What the status page at / is made from; without it, / is not served. */
  fleet?: FleetSource;
}

export class Metrics {
  readonly registry = new Registry();
  private readonly passDuration: Histogram<'cluster'>;
  private readonly drift: Gauge<'cluster' | 'host'>;
  private readonly changes: Counter<'cluster' | 'outcome' | 'risk'>;
  private readonly passes: Counter<'cluster' | 'state'>;
  private readonly lastObserved = new Map<string, { cluster: string; host: string; at: number }>();
  /** Each target's last complete observation: under which fingerprint of its part of the file. */
  private readonly observedUnder = new Map<string, string>();
  private readonly condition: Gauge<'cluster' | 'host' | 'condition'>;
  private readonly lag: Gauge<'cluster' | 'member'>;
  private readonly replicaRunning: Gauge<'cluster' | 'member'>;
  private readonly primary: Gauge<'cluster' | 'member'>;
  private readonly lagBytes: Gauge<'cluster' | 'member'>;

  constructor(private readonly source: MetricsSource) {
    // The event-loop monitor samples every 10 ms by default: 100 wake-ups a second, more CPU than the passes of a small fleet.
    collectDefaultMetrics({ register: this.registry, prefix: 'setpoint_', eventLoopMonitoringPrecision: 100 });
    // prom-client's Node metrics include gauges named *_total (active handles, requests, resources),
    // which Prometheus' naming rules (promtool check metrics) reserve for counters: dropped; the same
    // numbers without `_total` stay.
    for (const m of this.registry.getMetricsAsArray())
      if (m.name.endsWith('_total') && String(m.type) !== 'counter') this.registry.removeSingleMetric(m.name);
    this.condition = new Gauge({
      name: 'setpoint_condition',
      help: 'Conditions of each cluster member: 1 when True, 0 when False or Unknown (Ready, Progressing, Degraded, Stalled).',
      labelNames: ['cluster', 'host', 'condition'],
      registers: [this.registry],
    });
    this.passDuration = new Histogram({
      name: 'setpoint_pass_duration_seconds',
      help: 'Duration of one pass over one target (observe, plan, act).',
      labelNames: ['cluster'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [this.registry],
    });
    this.drift = new Gauge({
      name: 'setpoint_drift',
      help: 'Differences between the spec and the last observation, per cluster member.',
      labelNames: ['cluster', 'host'],
      registers: [this.registry],
    });
    this.changes = new Counter({
      name: 'setpoint_changes_total',
      help: 'Changes made, by outcome (ok, failed) and risk.',
      labelNames: ['cluster', 'outcome', 'risk'],
      registers: [this.registry],
    });
    this.passes = new Counter({
      name: 'setpoint_passes_total',
      help: 'Passes, by the state they ended in.',
      labelNames: ['cluster', 'state'],
      registers: [this.registry],
    });
    this.lag = new Gauge({
      name: 'setpoint_replication_lag_seconds',
      help: 'Replication lag of each replica, as its server reports it (absent when unknown).',
      labelNames: ['cluster', 'member'],
      registers: [this.registry],
    });
    this.replicaRunning = new Gauge({
      name: 'setpoint_replica_running',
      help: '1 when a replica replicates (both threads, or the WAL receiver, run), 0 when it does not.',
      labelNames: ['cluster', 'member'],
      registers: [this.registry],
    });
    this.primary = new Gauge({
      name: 'setpoint_primary',
      help: '1 for the member that takes writes in its cluster, 0 for the others.',
      labelNames: ['cluster', 'member'],
      registers: [this.registry],
    });
    this.lagBytes = new Gauge({
      name: 'setpoint_replication_lag_bytes',
      help: 'How many bytes of WAL a standby is behind its primary (PostgreSQL; absent when unknown).',
      labelNames: ['cluster', 'member'],
      registers: [this.registry],
    });
    const observed = this.lastObserved;
    new Gauge({
      name: 'setpoint_last_observed_age_seconds',
      help: 'Seconds since each cluster member was last observed successfully.',
      labelNames: ['cluster', 'host'],
      registers: [this.registry],
      collect() {
        this.reset();
        const now = Date.now();
        for (const o of observed.values()) this.set({ cluster: o.cluster, host: o.host }, (now - o.at) / 1000);
      },
    });
    const src = this.source;
    new Gauge({
      name: 'setpoint_queue_depth',
      help: 'Targets in the work queue: ready to run, running, scheduled for later.',
      labelNames: ['queue'],
      registers: [this.registry],
      collect() {
        const d = src.depth();
        this.set({ queue: 'ready' }, d.ready);
        this.set({ queue: 'running' }, d.running);
        this.set({ queue: 'scheduled' }, d.scheduled);
      },
    });
  }

  observe(o: PassOutcome, conditions?: readonly Condition[]): void {
    const { cluster, host, key } = o.target;
    // Ready to serve only once every target in force has been observed whole, under its part of the file now.
    if (o.complete && o.error?.terminal !== true && !(o.error !== undefined && o.drift === undefined))
      this.observedUnder.set(key, o.target.fingerprint);
    else this.observedUnder.delete(key);
    for (const c of conditions ?? [])
      this.condition.set({ cluster, host, condition: c.type }, c.status === 'True' ? 1 : 0);
    this.passDuration.observe({ cluster }, (o.endedAt - o.time) / 1000);
    this.passes.inc({ cluster, state: o.state });
    if (o.drift !== undefined) this.drift.set({ cluster, host }, o.drift.length);
    for (const a of o.actions) this.changes.inc({ cluster, outcome: a.ok ? 'ok' : 'failed', risk: a.risk });
    if (o.complete) this.lastObserved.set(key, { cluster, host, at: o.endedAt });
    for (const m of o.topology?.members ?? []) {
      const labels = { cluster, member: m.member };
      this.primary.set(labels, m.member === o.topology?.primary ? 1 : 0);
      if (m.replicating === null) this.replicaRunning.remove(labels);
      else this.replicaRunning.set(labels, m.replicating ? 1 : 0);
      if (m.lagSeconds === null) this.lag.remove(labels);
      else this.lag.set(labels, m.lagSeconds);
      if (m.lagBytes === null || m.lagBytes === undefined) this.lagBytes.remove(labels);
      else this.lagBytes.set(labels, m.lagBytes);
    }
  }

  /**
   * Why the daemon is not ready, or undefined when it is: ready means a spec is in force and every
   * target in it has been observed successfully (every kind, no error that stops it) since its part of
   * the file was loaded.
   */
  notReady(): string | undefined {
    const targets = this.source.targets();
    if (targets === undefined) return 'no spec loaded';
    const missing = targets.filter((t) => this.observedUnder.get(t.key) !== t.fingerprint).map((t) => t.key);
    if (missing.length === 0) return undefined;
    return `not observed successfully since the file was loaded: ${missing.slice(0, 20).join(', ')}${missing.length > 20 ? `, and ${missing.length - 20} more` : ''}`;
  }

  /** Starts the listener; `listen` is `ADDRESS:PORT` on a loopback address. */
  async listen(listen: string): Promise<Server> {
    const m = /^(\[[0-9a-fA-F:]+\]|[^:]+):(\d+)$/.exec(listen);
    if (m === null)
      throw new SetpointError('cli.usage', `--listen ${listen}: expected ADDRESS:PORT, e.g. 127.0.0.1:9464`);
    const host = (m[1] as string).replace(/^\[|\]$/g, '');
    if (!(host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host))) {
      throw new SetpointError(
        'cli.usage',
        `--listen ${listen}: metrics and health are served on a loopback address only (127.x.y.z, ::1 or localhost)`,
      );
    }
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path === '/healthz') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      } else if (path === '/readyz') {
        const why = this.notReady();
        if (why === undefined) res.writeHead(200, { 'content-type': 'text/plain' }).end('ready\n');
        else res.writeHead(503, { 'content-type': 'text/plain' }).end(`not ready: ${why}\n`);
      } else if (path === '/metrics') {
        this.registry
          .metrics()
          .then((text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text))
          .catch((err: unknown) => res.writeHead(500).end(String(err)));
      } else if ((path === '/' || path === '/fleet.json') && this.source.fleet !== undefined) {
        if (req.method !== 'GET' && req.method !== 'HEAD') {
          res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('read-only\n');
          return;
        }
        try {
          const view = fleetView(this.source.fleet);
          if (path === '/fleet.json')
            res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(view) + '\n');
          else
            res
              .writeHead(200, {
                'content-type': 'text/html; charset=utf-8',
                // Self-contained and script-free: nothing is loaded from elsewhere, nothing runs.
                'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
                'x-content-type-options': 'nosniff',
                'referrer-policy': 'no-referrer',
              })
              .end(renderPage(view));
        } catch (err) {
          res.writeHead(500, { 'content-type': 'text/plain' }).end(`cannot read the history: ${String(err)}\n`);
        }
      } else {
        res
          .writeHead(404, { 'content-type': 'text/plain' })
          .end(`try ${this.source.fleet === undefined ? '' : '/, /fleet.json, '}/healthz, /readyz or /metrics\n`);
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(Number(m[2]), host, () => resolve());
    });
    server.unref();
    return server;
  }
}
