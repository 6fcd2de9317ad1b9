// Results: what a finished attempt changes (its job, halts, daily counts, block_key,
// waiters).

#include "store/codec.hpp"
#include "store/sql/rows.hpp"
#include "store/sql/sql_store.hpp"
#include "util/time.hpp"

namespace muster::store::sql {

util::Result<void> ResultStatements::prepare(Db& db, std::vector<std::string>& sql) {
  return prepare_all(
      db, sql,
      {
          {&set_pid, "UPDATE jobs SET pid = ?1, pgid = ?1 WHERE jid = ?2 AND aid IS NOT "
                     "DISTINCT FROM ?3"},
          {&finish,
           "UPDATE jobs SET state = ?1, exit_code = ?2, signal = ?3, error = ?4, "
           "error_type = ?5, finished_at = ?6, retry_at = ?7, "
           "interrupts = interrupts + ?8, halts = halts + ?12, pid = coalesce(?9, pid), "
           "pgid = coalesce(?9, pgid), reason = NULL, aid = NULL, lease_until = NULL "
           "WHERE jid = ?10 AND state = 'running' AND aid IS NOT DISTINCT FROM ?11"},
          {&halt, "UPDATE runs SET state = 'halted', resume_at = " +
                      db.greatest("coalesce(resume_at, 0)", "?2") +
                      ", halt_reason = ?3, updated_at = ?4 WHERE rid = ?1"},
          {&block_key, "UPDATE jobs SET state = 'skipped', reason = ?4, error = ?4, "
                       "error_type = 'blocked', finished_at = ?5 "
                       // key <> '' lets the partial index jobs_key serve it
                       "WHERE rid = ?1 AND key = ?2 AND key <> '' AND state = ?3"},
          {&promote_key,
           "UPDATE jobs SET state = 'pending', reason = NULL, retry_at = 0 WHERE jid IN "
           "(SELECT jid FROM jobs WHERE rid = ?1 AND key = ?2 AND state = 'waiting' "
           "AND (retry_at = 0 OR ?4) ORDER BY priority DESC, jid LIMIT ?3)"},
          // The first job of another live run whose limits count the whole
          // store (limit_scope = "store") waiting on the key.
          {&promote_key_elsewhere,
           "UPDATE jobs SET state = 'pending', reason = NULL, retry_at = 0 WHERE jid = "
           "(SELECT jid FROM jobs WHERE key = ?1 AND key <> '' AND state = 'waiting' AND "
           "rid <> ?2 AND (retry_at = 0 OR ?3) AND EXISTS (SELECT 1 FROM runs r WHERE "
           "r.rid = jobs.rid AND r.holder_pid IS NOT NULL AND " +
               db.json_text("r.settings", "limits.scope") +
               " = 'store') "
               "ORDER BY priority DESC, jid LIMIT 1)"},
          {&keep_output,
           "INSERT INTO job_outputs (jid, rid, host, stdout, stderr, stdout_bytes, "
           "stderr_bytes, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (jid) "
           "DO "
           "UPDATE SET host = excluded.host, stdout = excluded.stdout, stderr = "
           "excluded.stderr, stdout_bytes = excluded.stdout_bytes, stderr_bytes = "
           "excluded.stderr_bytes, at = excluded.at"},
          {&whose, "SELECT j.id, j.state, j.aid, a.host, a.pid, a.\"user\" FROM jobs j "
                   "LEFT JOIN agents a ON a.aid = ?2 WHERE j.jid = ?1"},
      });
}

void bind_finish(Statement& st, int p, const Update& u) {
  const auto& o = u.outcome;
  st.bind(p, core::to_string(u.state));
  st.bind(p + 1, o.exit_code >= 0 ? std::optional<int64_t>(o.exit_code) : std::nullopt);
  st.bind(p + 2, o.signal > 0 ? std::optional<int64_t>(o.signal) : std::nullopt);
  if (o.error.empty()) {
    st.bind_null(p + 3);
  } else {
    st.bind(p + 3, o.error);
  }
  if (!u.error_type.empty()) {
    st.bind(p + 4, u.error_type);
  } else if (!o.error.empty()) {
    st.bind(p + 4, core::to_string(o.type));
  } else {
    st.bind_null(p + 4);
  }
  st.bind(p + 5, u.finished_at).bind(p + 6, u.retry_at);
  st.bind(p + 7, static_cast<int64_t>(u.uncounted ? 1 : 0));
  st.bind(p + 8, u.pid > 0 ? std::optional<int64_t>(u.pid) : std::nullopt);
}

util::Result<void> SqlStore::record_in_tx(int64_t rid, const std::vector<Update>& updates,
                                          const RunLimits& rl, const Owner& owner,
                                          int64_t now_ms, CommitResult& out) {
  std::vector<const Update*> rest;
  if (auto r = apply_plain(rid, updates, owner, now_ms, out, rest); !r) {
    return r;
  }
  for (const Update* u : rest) {
    if (auto r = apply_update(rid, *u, rl, owner, now_ms, out); !r) {
      return r;
    }
  }
  return {};
}

util::Result<void> SqlStore::ignore_result(int64_t rid, const Update& u,
                                           const Owner& owner, int64_t now_ms,
                                           CommitResult& out) {
  out.ignored.push_back(u.jid);
  Event e;
  e.at = now_ms;
  e.action = "result ignored";
  std::string now = "it is gone";
  m_results.whose.bind(1, u.jid).bind(2, owner.aid);
  if (auto r = m_results.whose.each([&](Statement& row) {
        e.detail = "job " + row.text(0);
        now = row.text(1) == "running" && !row.is_null(2)
                  ? "it is running again, for agent " + std::to_string(row.int64(2))
                  : "it is " + row.text(1) + " now";
        e.host = row.text(3);
        e.pid = row.is_null(4) ? 0 : row.int64(4);
        e.user = row.text(5);
      });
      !r) {
    return r;
  }
  e.detail += ": the " + std::string(core::to_string(u.state)) + " result of agent " +
              (owner.aid ? std::to_string(*owner.aid) : std::string("(none)")) +
              " came after its lease was taken over, and " + now;
  return add_event(rid, e);
}

util::Result<void> SqlStore::promote_key(int64_t rid, const std::string& key, int64_t n,
                                         bool include_timed, CommitResult& out) {
  m_results.promote_key.bind(1, rid).bind(2, key).bind(3, n).bind(
      4, include_timed ? int64_t{1} : 0);
  if (auto r = m_results.promote_key.run(); !r) {
    return r.error();
  }
  const int64_t moved = m_db.changes();
  out.moved[core::JobState::waiting] -= moved;
  out.moved[core::JobState::pending] += moved;
  return {};
}

util::Result<void> SqlStore::apply_update(int64_t rid, const Update& u,
                                          const RunLimits& rl, const Owner& owner,
                                          int64_t now_ms, CommitResult& out) {
  if (u.kind == Update::Kind::started) {
    return m_results.set_pid.bind(1, u.pid).bind(2, u.jid).bind(3, owner.aid).run();
  }
  bind_finish(m_results.finish, 1, u);
  m_results.finish.bind(12, static_cast<int64_t>(u.halt_until > 0 ? 1 : 0));
  if (auto r = m_results.finish.bind(10, u.jid).bind(11, owner.aid).run(); !r) {
    return r;
  }
  if (m_db.changes() == 0) {
    // The job is not this agent's any more: its result changes nothing, not
    // the job, the halts, the key's counts nor the locks of the new attempt.
    return ignore_result(rid, u, owner, now_ms, out);
  }
  if (u.output_kept) {
    m_results.keep_output.bind(1, u.jid)
        .bind(2, rid)
        .bind(3, owner.host)
        .bind(4, u.stdout_tail)
        .bind(5, u.stderr_tail)
        .bind(6, u.stdout_bytes)
        .bind(7, u.stderr_bytes)
        .bind(8, u.finished_at);
    if (auto r = m_results.keep_output.run(); !r) {
      return r;
    }
  }
  if (u.halt_until > 0) {
    // Every agent's next commit sees this and claims nothing until then.
    m_results.halt.bind(1, rid)
        .bind(2, u.halt_until)
        .bind(3, u.halt_reason)
        .bind(4, now_ms);
    if (auto r = m_results.halt.run(); !r) {
      return r;
    }
  }
  if (!u.key.empty() && rl.limits.per_key_daily > 0 &&
      rl.limits.count == core::CapCount::successes &&
      u.state == core::JobState::succeeded) {
    const auto w = core::day_window(u.claimed_at > 0 ? u.claimed_at : now_ms,
                                    rl.limits.day_start_min, rl.zone);
    if (auto r = m_limits.count_key.bind(1, rid).bind(2, u.key).bind(3, w.start_ms).run();
        !r) {
      return r;
    }
  }
  if (u.block_key && !u.key.empty()) {
    // The key is unusable: its other unfinished jobs are skipped, with why.
    const std::string why =
        "key " + u.key + " blocked: job failed with " +
        (u.error_type.empty() ? std::string(core::to_string(u.outcome.type))
                              : u.error_type);
    for (auto state : {core::JobState::pending, core::JobState::waiting,
                       core::JobState::retrying, core::JobState::interrupted}) {
      m_results.block_key.bind(1, rid)
          .bind(2, u.key)
          .bind(3, core::to_string(state))
          .bind(4, why)
          .bind(5, now_ms);
      if (auto r = m_results.block_key.run(); !r) {
        return r;
      }
      const int64_t n = m_db.changes();
      out.moved[state] -= n;
      out.moved[core::JobState::skipped] += n;
    }
  }
  if (!u.key.empty() && (rl.limits.per_key > 0 || rl.limits.per_key_daily > 0)) {
    // A place for the key may have opened: the jobs waiting on it get it.
    const bool by_successes = rl.limits.count == core::CapCount::successes &&
                              rl.limits.per_key_daily > 0 &&
                              u.state != core::JobState::succeeded;
    if (auto r = promote_key(rid, u.key, std::max<int64_t>(1, rl.limits.per_key),
                             by_successes, out);
        !r) {
      return r;
    }
  }
  if (!u.key.empty()) {
    // A run whose limits count the store's jobs may wait on this key too:
    // its first waiter checks again. (A failure frees a place in a daily cap
    // that counts successes.)
    m_results.promote_key_elsewhere.bind(1, u.key).bind(2, rid).bind(
        3, u.state != core::JobState::succeeded ? int64_t{1} : 0);
    if (auto r = m_results.promote_key_elsewhere.run(); !r) {
      return r;
    }
  }
  if (!u.locks.empty()) {
    std::vector<std::string> freed;
    if (auto r = m_locks.unlock.bind(1, u.jid).each(
            [&](Statement& row) { freed.push_back(row.text(0)); });
        !r) {
      return r;
    }
    // The first job waiting on each lock, in any run, may now take it.
    for (const auto& name : freed) {
      auto woke = wake_lock_waiter(name);
      if (!woke) {
        return woke.error();
      }
      if (*woke && **woke == rid) {
        out.moved[core::JobState::waiting] -= 1;
        out.moved[core::JobState::pending] += 1;
      }
    }
  }
  return {};
}

} // namespace muster::store::sql
