/** Schema migrations of the history file, applied in order; PRAGMA user_version counts them. */
export const migrations: readonly string[] = [
  `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  CREATE TABLE specs (
    version TEXT PRIMARY KEY,
    file TEXT NOT NULL,
    loaded_at INTEGER NOT NULL,
    text TEXT NOT NULL
  );
  -- One row per thing that happened: spec loaded/rejected, daemon events, drift, actions, errors.
  CREATE TABLE entries (
    id INTEGER PRIMARY KEY,
    time INTEGER NOT NULL,
    kind TEXT NOT NULL,
    cluster TEXT,
    host TEXT,
    resource TEXT,
    field TEXT,
    summary TEXT NOT NULL,
    outcome TEXT,
    ended INTEGER,
    spec_version TEXT,
    daemon TEXT,
    detail TEXT
  );
  CREATE INDEX entries_time ON entries(time);
  CREATE INDEX entries_target ON entries(cluster, host, time);
  CREATE INDEX entries_pending ON entries(cluster, host) WHERE outcome IN ('open', 'running');
  -- Observed state per resource, written only when it changes; state NULL means it disappeared.
  CREATE TABLE observations (
    id INTEGER PRIMARY KEY,
    time INTEGER NOT NULL,
    cluster TEXT NOT NULL,
    host TEXT NOT NULL,
    resource TEXT NOT NULL,
    state TEXT
  );
  CREATE INDEX observations_resource ON observations(cluster, host, resource, id);
  -- The latest status of each target (cluster member), rewritten every pass.
  CREATE TABLE targets (
    cluster TEXT NOT NULL,
    host TEXT NOT NULL,
    spec_version TEXT,
    server TEXT,
    state TEXT NOT NULL,
    drift INTEGER NOT NULL DEFAULT 0,
    waiting INTEGER NOT NULL DEFAULT 0,
    message TEXT,
    observed_at INTEGER,
    pass_at INTEGER,
    last_action TEXT,
    last_action_at INTEGER,
    last_error TEXT,
    last_error_at INTEGER,
    next_at INTEGER,
    PRIMARY KEY (cluster, host)
  );
  `,
  `
  -- Conditions (Ready, Progressing, Degraded, Stalled) of each target, as JSON; transitions go to entries.
  ALTER TABLE targets ADD COLUMN conditions TEXT;
  -- Pause and resume requests, by cluster, host or cluster/host; the daemon reads them every pass.
  CREATE TABLE pauses (
    id INTEGER PRIMARY KEY,
    target TEXT NOT NULL,
    reason TEXT NOT NULL,
    paused_at INTEGER NOT NULL,
    paused_by TEXT,
    resumed_at INTEGER,
    resumed_by TEXT
  );
  CREATE INDEX pauses_open ON pauses(target) WHERE resumed_at IS NULL;
  `,
  `
  -- The newest entries of one cluster (history --cluster X) without reading the cluster's whole past:
  -- entries_target serves a cluster and host, entries_time all clusters.
  CREATE INDEX entries_cluster_time ON entries(cluster, time);
  `,
  `
  -- Requests to act on a cluster now, outside the maintenance windows (setpoint switchover --now): the
  -- daemon that holds the cluster's leases reads them every pass and closes them when it is done.
  CREATE TABLE requests (
    id INTEGER PRIMARY KEY,
    cluster TEXT NOT NULL,
    kind TEXT NOT NULL,
    requested_at INTEGER NOT NULL,
    requested_by TEXT,
    done_at INTEGER,
    outcome TEXT
  );
  CREATE INDEX requests_open ON requests(cluster) WHERE done_at IS NULL;
  `,
  `
  -- What a pass must remember across restarts (a cluster topology: where a stopped member's data lives).
  CREATE TABLE memory (
    key TEXT PRIMARY KEY,
    time INTEGER NOT NULL,
    value TEXT NOT NULL
  );
  `,
  `
  -- Questions about the past (setpoint show, setpoint diff): the file in force at a time, a target's drift,
  -- conditions and errors at a time, and every entry about one resource, each read through an index
  -- rather than a scan of a target's whole past. Built once on an existing file (a few seconds per
  -- million entries).
  CREATE INDEX entries_spec ON entries(time) WHERE kind = 'spec';
  CREATE INDEX entries_target_kind ON entries(cluster, host, kind, time);
  CREATE INDEX entries_resource ON entries(cluster, host, resource, time) WHERE resource IS NOT NULL;
  `,
];
