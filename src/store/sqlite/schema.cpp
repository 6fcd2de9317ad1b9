#include "store/sqlite/schema.hpp"

#include <string>

namespace muster::store::sqlite {

const std::vector<std::string_view>& migrations() {
  static const std::vector<std::string_view> k_migrations = {
      // 0 → 1: runs and jobs.
      R"sql(
CREATE TABLE runs (
  rid          INTEGER PRIMARY KEY,
  id           TEXT NOT NULL UNIQUE,
  name         TEXT UNIQUE,
  state        TEXT NOT NULL,
  settings     TEXT NOT NULL,
  columns      TEXT NOT NULL,
  total        INTEGER NOT NULL DEFAULT 0,
  created_at   INTEGER NOT NULL,
  updated_at   INTEGER NOT NULL,
  holder_pid   INTEGER,
  holder_host  TEXT,
  holder_start INTEGER,
  heartbeat_at INTEGER
);
CREATE TABLE jobs (
  jid          INTEGER PRIMARY KEY,
  rid          INTEGER NOT NULL REFERENCES runs(rid),
  seq          INTEGER NOT NULL,
  id           TEXT NOT NULL,
  key          TEXT NOT NULL DEFAULT '',
  fields       TEXT NOT NULL,
  raw          TEXT,
  state        TEXT NOT NULL,
  attempts     INTEGER NOT NULL DEFAULT 0,
  max_attempts INTEGER NOT NULL,
  exit_code    INTEGER,
  signal       INTEGER,
  error        TEXT,
  error_type   TEXT,
  slot         INTEGER,
  pid          INTEGER,
  pgid         INTEGER,
  started_at   INTEGER,
  finished_at  INTEGER,
  retry_at     INTEGER NOT NULL DEFAULT 0,
  UNIQUE (rid, id)
);
-- Claims read pending jobs in input order and due retries by time.
CREATE INDEX jobs_claim ON jobs(rid, state, retry_at);
)sql",
      // 1 → 2: interrupted attempts do not count against max_attempts; the
      // holder reports its rate for `muster status` in other terminals.
      R"sql(
ALTER TABLE jobs ADD COLUMN interrupts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN rate REAL NOT NULL DEFAULT 0;
)sql",
      // 2 → 3: index only the states a claim or a status looks for. A job
      // that succeeds then leaves no index entry to move, so a turn of the
      // agent's loop writes fewer pages.
      R"sql(
DROP INDEX jobs_claim;
CREATE INDEX jobs_pending ON jobs(rid, jid) WHERE state = 'pending';
CREATE INDEX jobs_retrying ON jobs(rid, retry_at) WHERE state = 'retrying';
CREATE INDEX jobs_running ON jobs(rid) WHERE state = 'running';
)sql",
      // 3 → 4: rules, limits and locks. Jobs get a priority, a lock and the
      // reason they wait; runs can be halted until a time and pace their
      // starts. Claims read pending jobs by priority; limits look jobs up by
      // key; day windows count per key.
      R"sql(
ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN lock TEXT;
ALTER TABLE jobs ADD COLUMN reason TEXT;
ALTER TABLE runs ADD COLUMN resume_at INTEGER;
ALTER TABLE runs ADD COLUMN halt_reason TEXT;
ALTER TABLE runs ADD COLUMN next_start_us INTEGER NOT NULL DEFAULT 0;
DROP INDEX jobs_pending;
CREATE INDEX jobs_pending ON jobs(rid, priority DESC, jid) WHERE state = 'pending';
DROP INDEX jobs_running;
CREATE INDEX jobs_running ON jobs(rid, key) WHERE state = 'running';
CREATE INDEX jobs_waiting ON jobs(rid, key, priority DESC, jid) WHERE state = 'waiting';
CREATE INDEX jobs_waiting_due ON jobs(rid, retry_at) WHERE state = 'waiting' AND retry_at > 0;
CREATE INDEX jobs_waiting_lock ON jobs(lock, priority DESC, jid) WHERE state = 'waiting' AND lock IS NOT NULL;
CREATE INDEX jobs_key ON jobs(rid, key) WHERE key <> '';
CREATE TABLE key_counts (
  rid          INTEGER NOT NULL,
  key          TEXT NOT NULL,
  window_start INTEGER NOT NULL,
  n            INTEGER NOT NULL,
  PRIMARY KEY (rid, key, window_start)
) WITHOUT ROWID;
CREATE TABLE locks (
  name  TEXT PRIMARY KEY,
  rid   INTEGER NOT NULL,
  jid   INTEGER,
  since INTEGER NOT NULL
);
CREATE INDEX locks_run ON locks(rid);
)sql",
      // 4 → 5: control from other terminals. A run carries the request its
      // agent must act on (pause, cancel), a slot count to scale to, and a
      // generation that grows when jobs are added. Every control action is
      // recorded as an event.
      R"sql(
ALTER TABLE runs ADD COLUMN control TEXT;
ALTER TABLE runs ADD COLUMN target_slots INTEGER;
ALTER TABLE runs ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
CREATE TABLE events (
  eid    INTEGER PRIMARY KEY,
  rid    INTEGER NOT NULL,
  at     INTEGER NOT NULL,
  host   TEXT NOT NULL,
  user   TEXT NOT NULL,
  pid    INTEGER NOT NULL,
  action TEXT NOT NULL,
  detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX events_run ON events(rid, eid);
)sql",
      // 5 → 6: several agents on one run. Each agent has a row, sends
      // heartbeats, and leases the slot numbers it uses on its host; each
      // running job records its agent and a lease that heartbeats renew.
      R"sql(
CREATE TABLE agents (
  aid          INTEGER PRIMARY KEY,
  rid          INTEGER NOT NULL,
  host         TEXT NOT NULL,
  pid          INTEGER NOT NULL,
  start_time   INTEGER NOT NULL,
  user         TEXT NOT NULL,
  slots        INTEGER NOT NULL DEFAULT 0,
  started_at   INTEGER NOT NULL,
  heartbeat_at INTEGER NOT NULL,
  heartbeat_ms INTEGER NOT NULL,
  state        TEXT NOT NULL,
  stopped_at   INTEGER,
  slot_states  TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX agents_run ON agents(rid, state);
CREATE TABLE slot_leases (
  rid  INTEGER NOT NULL,
  host TEXT NOT NULL,
  slot INTEGER NOT NULL,
  aid  INTEGER NOT NULL,
  PRIMARY KEY (rid, host, slot)
) WITHOUT ROWID;
ALTER TABLE jobs ADD COLUMN aid INTEGER;
ALTER TABLE jobs ADD COLUMN lease_until INTEGER;
CREATE INDEX jobs_agent ON jobs(aid) WHERE state = 'running';
)sql",
      // 6 → 7: heartbeats find an agent's jobs among the run's running ones
      // (jobs_running), so jobs_agent only cost an index write per claim and
      // per result.
      R"sql(
DROP INDEX jobs_agent;
)sql",
      // 7 → 8: a job counts the times it halted the run apart from its other
      // uncounted attempts, for max_halts and for `jobs`.
      R"sql(
ALTER TABLE jobs ADD COLUMN halts INTEGER NOT NULL DEFAULT 0;
)sql",
      // 8 → 9: locks taken at run time by `muster lock NAME --holder WHO`,
      // with no run (rid 0), an optional expiry (--ttl) and an optional
      // process whose life bounds the lock (--pid).
      R"sql(
ALTER TABLE locks ADD COLUMN owner TEXT;
ALTER TABLE locks ADD COLUMN expires_at INTEGER;
ALTER TABLE locks ADD COLUMN holder_pid INTEGER;
ALTER TABLE locks ADD COLUMN holder_host TEXT;
ALTER TABLE locks ADD COLUMN holder_start INTEGER;
)sql",
      // 9 → 10: a job may hold several locks, their names joined by
      // newlines in `lock`; those waiting are found through an index. Limits
      // may count a key's use across the runs of the store.
      R"sql(
CREATE INDEX jobs_waiting_locks ON jobs(priority DESC, jid)
  WHERE state = 'waiting' AND instr(lock, char(10)) > 0;
-- limit_scope = "store": a key's use and its waiters across the runs.
CREATE INDEX jobs_running_key ON jobs(key) WHERE state = 'running' AND key <> '';
CREATE INDEX jobs_waiting_key ON jobs(key, priority DESC, jid) WHERE state = 'waiting' AND key <> '';
CREATE INDEX key_counts_key ON key_counts(key, window_start);
)sql",
      // 10 → 11: a job records the host of the agent that claimed it, so
      // that its worker (HOST:SLOT) is known after it ends, on any host.
      R"sql(
ALTER TABLE jobs ADD COLUMN host TEXT;
)sql",
      // 11 → 12: a finished attempt's output tails, which stores shared by
      // many hosts keep (Store::keeps_output).
      R"sql(
CREATE TABLE job_outputs (
  jid          INTEGER PRIMARY KEY,
  rid          INTEGER NOT NULL,
  host         TEXT NOT NULL,
  stdout       TEXT NOT NULL,
  stderr       TEXT NOT NULL,
  stdout_bytes INTEGER NOT NULL,
  stderr_bytes INTEGER NOT NULL,
  at           INTEGER NOT NULL
);
CREATE INDEX job_outputs_run ON job_outputs(rid);
)sql",
      // 12 → 13: the tails of the slots' logs, for `muster logs --slot` on
      // stores shared by many hosts.
      R"sql(
CREATE TABLE slot_logs (
  rid   INTEGER NOT NULL,
  host  TEXT NOT NULL,
  slot  INTEGER NOT NULL,
  tail  TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  at    INTEGER NOT NULL,
  PRIMARY KEY (rid, host, slot)
);
)sql",
  };
  return k_migrations;
}

int current_schema_version() {
  return static_cast<int>(migrations().size());
}

util::Result<int> schema_version(Db& db) {
  auto st = Statement::prepare(db, "PRAGMA user_version");
  if (!st) {
    return st.error();
  }
  auto row = st->step();
  if (!row) {
    return row.error();
  }
  return static_cast<int>(st->int64(0));
}

util::Error newer_schema(const std::string& path, int version) {
  return sql::newer_schema(path, version, current_schema_version());
}

util::Result<void> migrate(Db& db) {
  const Doing doing(db, "upgrade the schema");
  auto tx = Transaction::begin(db);
  if (!tx) {
    return tx.error();
  }
  auto version = schema_version(db);
  if (!version) {
    return version.error();
  }
  const int current = current_schema_version();
  if (*version > current) {
    return newer_schema(db.path(), *version);
  }
  if (*version == current) {
    return tx->commit();
  }
  if (auto r = sql::run_migrations(db, migrations(), *version); !r) {
    return r;
  }
  if (auto r = db.exec("PRAGMA user_version = " + std::to_string(current)); !r) {
    return r.error();
  }
  return tx->commit();
}

} // namespace muster::store::sqlite
