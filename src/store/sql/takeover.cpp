// Takeover and recovery: a run changes hands, and gone agents give their jobs back.

#include "store/codec.hpp"
#include "store/sql/rows.hpp"
#include "store/sql/sql_store.hpp"
#include "util/time.hpp"

namespace muster::store::sql {

util::Result<Takeover>
SqlStore::acquire(int64_t rid, const Holder& me,
                  const std::function<bool(const Holder&)>& is_alive) {
  const Doing doing(m_db, "take the run");
  return take_run(rid, me, is_alive, false);
}

util::Result<Takeover>
SqlStore::join(int64_t rid, const Holder& me,
               const std::function<bool(const Holder&)>& is_alive) {
  const Doing doing(m_db, "join the run");
  return take_run(rid, me, is_alive, true);
}

util::Result<Takeover>
SqlStore::take_run(int64_t rid, const Holder& me,
                   const std::function<bool(const Holder&)>& is_alive, bool join) {
  auto tx = Transaction::begin(m_db);
  if (!tx) {
    return tx.error();
  }
  auto run = run_by_rid(rid);
  if (!run) {
    return run.error();
  }
  Takeover out;
  out.run = std::move(*run);
  const int64_t now = util::now_ms();
  const Holder& held = out.run.holder;
  const bool is_me =
      held.pid == me.pid && held.host == me.host && held.start_time == me.start_time;
  const bool held_live = !held.empty() && !is_me && is_alive(held);
  if (held_live && !join) {
    out.held_by = held;
    return out;
  }
  // This process becomes one of the run's agents, and the transaction ends.
  const auto enter = [&]() -> util::Result<void> {
    auto aid = insert_agent(rid, me, now);
    if (!aid) {
      return aid.error();
    }
    out.aid = *aid;
    return tx->commit();
  };
  if (held_live) {
    // Beside a live holder: the run, its locks and its state are its.
    if (auto r =
            recover_in_tx(rid, out.run.settings, 0, is_alive, now, false, out.orphans);
        !r) {
      return r.error();
    }
    if (auto r = enter(); !r) {
      return r.error();
    }
    return out;
  }
  if (!out.run.settings.locks.empty()) {
    auto conflict = lock_conflict(out.run.settings.locks, rid, is_alive);
    if (!conflict) {
      return conflict.error();
    }
    if (*conflict) {
      out.lock_conflict = std::move(*conflict);
      return out; // rolled back: nothing changed
    }
  }
  // The old holder is gone: its jobs (and those of other gone agents) are
  // recovered, its locks freed, and the run's locks taken anew.
  if (auto r = recover_in_tx(rid, out.run.settings, 0, is_alive, now, true, out.orphans);
      !r) {
    return r.error();
  }
  if (auto r = release_locks(rid, true); !r) {
    return r.error();
  }
  for (const auto& name : out.run.settings.locks) {
    if (auto r =
            m_locks.lock_job.bind(1, name).bind(2, rid).bind_null(3).bind(4, now).run();
        !r) {
      return r.error();
    }
  }
  if (out.run.settings.on_interrupt == core::OnInterrupt::requeue) {
    // Jobs stopped by a drain were recorded interrupted; requeue runs them again.
    if (auto r = run_sql(
            m_db,
            "UPDATE jobs SET state = 'pending' WHERE rid = ?1 AND state = 'interrupted'",
            rid);
        !r) {
      return r.error();
    }
  }
  auto asked = control(rid);
  if (!asked) {
    return asked.error();
  }
  const auto pause = asked->request == ControlRequest::pause ||
                             asked->request == ControlRequest::pause_stop
                         ? core::PauseAsked::yes
                         : core::PauseAsked::no;
  const auto state = core::state_on_takeover(pause, asked->resume_at, now);
  if (auto r =
          run_sql(m_db,
                  "UPDATE runs SET holder_pid = ?2, holder_host = ?3, holder_start = ?4, "
                  "heartbeat_at = ?5, updated_at = ?5, target_slots = NULL, state = ?6 "
                  "WHERE rid = ?1",
                  rid, me.pid, me.host, me.start_time, now, core::to_string(state));
      !r) {
    return r.error();
  }
  if (auto r = enter(); !r) {
    return r.error();
  }
  out.run.holder = me;
  out.run.holder.heartbeat_at = now;
  out.run.state = core::RunState::running;
  return out;
}

util::Result<void>
SqlStore::recover_in_tx(int64_t rid, const core::RunSettings& settings, int64_t me,
                        const std::function<bool(const Holder&)>& is_alive,
                        int64_t now_ms, bool unowned, std::vector<Orphan>& orphans) {
  auto live = Statement::prepare(
      m_db, "SELECT aid, host, pid, start_time, heartbeat_at, heartbeat_ms FROM agents "
            "WHERE rid = ?1 AND state = 'running' AND aid <> ?2");
  if (!live) {
    return live.error();
  }
  std::vector<int64_t> gone;
  auto listed = live->bind(1, rid).bind(2, me).each([&](Statement& row) {
    Holder h;
    h.host = row.text(1);
    h.pid = row.int64(2);
    h.start_time = row.int64(3);
    h.heartbeat_at = row.int64(4);
    h.heartbeat_ms = row.int64(5);
    // Silent for longer than a lease, or (on this host) a dead process.
    if (core::is_offline(now_ms, h.heartbeat_at, h.heartbeat_ms) || !is_alive(h)) {
      gone.push_back(row.int64(0));
    }
  });
  if (!listed) {
    return listed;
  }
  for (int64_t aid : gone) {
    if (auto r = end_agent(aid, AgentState::offline, now_ms); !r) {
      return r;
    }
  }
  // Running jobs whose agent is gone (or, with `unowned`, that have none).
  std::string owner =
      "aid IN (SELECT aid FROM agents WHERE rid = ?1 AND state <> 'running')";
  if (unowned) {
    owner = "(aid IS NULL OR " + owner + ")";
  }
  auto found =
      Statement::prepare(m_db, "SELECT jid, id, pgid, started_at, lock, host FROM jobs "
                               "WHERE rid = ?1 AND state = 'running' AND " +
                                   owner);
  if (!found) {
    return found.error();
  }
  std::vector<std::string> locks;
  auto each = found->bind(1, rid).each([&](Statement& row) {
    orphans.push_back(Orphan{row.int64(0), row.text(1), row.optional_int64(2),
                             row.optional_int64(3).value_or(0), row.text(5)});
    for (auto& name : split_locks(row.text(4))) {
      locks.push_back(std::move(name));
    }
  });
  if (!each) {
    return each;
  }
  if (orphans.empty()) {
    return {};
  }
  // Pending again, or held as interrupted.
  const std::string move =
      "UPDATE jobs SET state = ?4, interrupts = interrupts + 1, error = ?2, error_type = "
      "'interrupted', finished_at = ?3, aid = NULL, lease_until = NULL WHERE rid = ?1 "
      "AND "
      "state = 'running' AND " +
      owner;
  if (auto r =
          run_sql(m_db, move, rid, "interrupted: its agent stopped while it ran", now_ms,
                  core::to_string(core::state_on_interrupt(settings.on_interrupt)));
      !r) {
    return r;
  }
  auto unlock = Statement::prepare(m_db, "DELETE FROM locks WHERE rid = ?1 AND jid = ?2");
  if (!unlock) {
    return unlock.error();
  }
  for (const auto& o : orphans) {
    if (auto r = unlock->bind(1, rid).bind(2, o.jid).run(); !r) {
      return r;
    }
  }
  for (const auto& name : locks) {
    if (auto r = wake_lock_waiter(name); !r) {
      return r.error();
    }
  }
  return {};
}

util::Result<std::vector<Orphan>>
SqlStore::recover(int64_t rid, int64_t me,
                  const std::function<bool(const Holder&)>& is_alive, int64_t now_ms) {
  const Doing doing(m_db, "recover the jobs of gone agents");
  auto tx = Transaction::begin(m_db);
  if (!tx) {
    return tx.error();
  }
  auto found = run_by_rid(rid);
  if (!found) {
    return found.error();
  }
  const auto& run = *found;
  std::vector<Orphan> orphans;
  if (auto r = recover_in_tx(rid, run.settings, me, is_alive, now_ms, false, orphans);
      !r) {
    return r.error();
  }
  if (!run.holder.empty() && !is_alive(run.holder) && me > 0) {
    // The holder is gone: this live agent holds the run now.
    if (auto r = run_sql(m_db,
                         "UPDATE runs SET (holder_pid, holder_host, holder_start, "
                         "heartbeat_at) = (SELECT "
                         "pid, host, start_time, heartbeat_at FROM agents WHERE aid = "
                         "?2) WHERE rid = ?1",
                         rid, me);
        !r) {
      return r.error();
    }
  }
  if (!orphans.empty()) {
    // Jobs to run again, for whichever agent is idle.
    if (auto r = m_db.notify(rid); !r) {
      return r.error();
    }
  }
  if (auto r = tx->commit(); !r) {
    return r.error();
  }
  return orphans;
}

util::Result<void> SqlStore::release(int64_t rid, core::RunState state) {
  const Doing doing(m_db, "release the run");
  auto tx = Transaction::begin(m_db);
  if (!tx) {
    return tx.error();
  }
  const int64_t now = util::now_ms();
  // The holder's own agent stops with it.
  auto self = Statement::prepare(
      m_db,
      "SELECT a.aid FROM agents a JOIN runs r ON r.rid = a.rid WHERE r.rid = ?1 AND "
      "a.state = 'running' AND a.pid = r.holder_pid AND a.host = r.holder_host AND "
      "a.start_time = r.holder_start");
  if (!self) {
    return self.error();
  }
  std::vector<int64_t> stopped;
  if (auto r = self->bind(1, rid).each(
          [&](Statement& row) { stopped.push_back(row.int64(0)); });
      !r) {
    return r;
  }
  for (int64_t aid : stopped) {
    if (auto r = end_agent(aid, AgentState::stopped, now); !r) {
      return r;
    }
  }
  // Another live agent carries on: it becomes the holder, and the run stays.
  if (auto r = run_sql(
          m_db,
          "UPDATE runs SET (holder_pid, holder_host, holder_start, heartbeat_at) = "
          "(SELECT "
          "pid, host, start_time, heartbeat_at FROM agents WHERE rid = ?1 AND state = "
          "'running' AND heartbeat_at > ?2 - ?3 * heartbeat_ms ORDER BY aid LIMIT 1), "
          "updated_at = ?2 WHERE rid = ?1 AND EXISTS (SELECT 1 FROM agents WHERE rid = "
          "?1 AND "
          "state = 'running' AND heartbeat_at > ?2 - ?3 * heartbeat_ms)",
          rid, now, core::k_missed_beats);
      !r) {
    return r;
  }
  if (m_db.changes() > 0) {
    return tx->commit();
  }
  if (auto r = release_locks(rid, false); !r) {
    return r;
  }
  if (state == core::RunState::paused) {
    // An agent that left early may have counted another's last jobs as
    // unfinished: a run with nothing unfinished is complete.
    auto left = Statement::prepare(
        m_db, "SELECT EXISTS (SELECT 1 FROM jobs WHERE rid = ?1 AND state IN ('pending', "
              "'retrying', 'running', 'waiting', 'interrupted'))");
    if (!left) {
      return left.error();
    }
    left->bind(1, rid);
    auto any = scalar(*left);
    if (!any) {
      return any.error();
    }
    if (*any == 0) {
      state = core::RunState::completed;
    }
  }
  if (auto r = run_sql(
          m_db,
          "UPDATE runs SET holder_pid = NULL, holder_host = NULL, holder_start = NULL, "
          "state = ?2, updated_at = ?3, rate = 0 WHERE rid = ?1",
          rid, core::to_string(state), util::now_ms());
      !r) {
    return r;
  }
  return tx->commit();
}

} // namespace muster::store::sql
