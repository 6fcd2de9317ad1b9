// Control requests and the events that record them.

#include "store/codec.hpp"
#include "store/sql/rows.hpp"
#include "store/sql/sql_store.hpp"
#include "util/time.hpp"

namespace muster::store::sql {

util::Result<void> ControlStatements::prepare(Db& db, std::vector<std::string>& sql) {
  return prepare_all(
      db, sql,
      {
          {&read, "SELECT control, target_slots, generation, coalesce(resume_at, 0) "
                  "FROM runs WHERE rid = ?1"},
      });
}

util::Result<Control> SqlStore::control(int64_t rid) {
  const Doing doing(m_db, "read the control request");
  m_control.read.bind(1, rid);
  Control c;
  auto r = m_control.read.each([&](Statement& row) {
    c.request = parse_control_request(row.text(0)).value_or(ControlRequest::none);
    c.target_slots = row.optional_int64(1).value_or(0);
    c.generation = row.int64(2);
    c.resume_at = row.int64(3);
  });
  if (!r) {
    return r.error();
  }
  return c;
}

util::Result<void> SqlStore::set_control(int64_t rid, const ControlChange& change,
                                         const Event& event) {
  const Doing doing(m_db, "record the control request");
  auto tx = Transaction::begin(m_db);
  if (!tx) {
    return tx.error();
  }
  // An empty request is stored as NULL; no request keeps the stored one.
  if (auto r = run_sql(
          m_db,
          "UPDATE runs SET control = CASE WHEN ?5 THEN nullif(?2, '') ELSE control "
          "END, target_slots = coalesce(?3, target_slots), updated_at = ?4, "
          "state = coalesce(nullif(?6, ''), state) WHERE rid = ?1",
          rid, to_string(change.request.value_or(ControlRequest::none)),
          change.target_slots, event.at, static_cast<int64_t>(change.request.has_value()),
          change.state ? std::string(core::to_string(*change.state)) : std::string());
      !r) {
    return r;
  }
  if (change.lift_halt) {
    core::RunState state = core::RunState::running;
    if (auto r = m_claims.halt_state.bind(1, rid).each([&](Statement& row) {
          state = core::parse_run_state(row.text(2)).value_or(core::RunState::running);
        });
        !r) {
      return r;
    }
    if (auto r = m_claims.unhalt.bind(1, rid)
                     .bind(2, event.at)
                     .bind(3, core::to_string(core::state_after_halt(state)))
                     .run();
        !r) {
      return r;
    }
  }
  if (auto r = add_event(rid, event); !r) {
    return r;
  }
  return tx->commit();
}

util::Result<void> SqlStore::add_event(int64_t rid, const Event& e) {
  const Doing doing(m_db, "record an event");
  if (auto r =
          run_sql(m_db,
                  "INSERT INTO events (rid, at, host, \"user\", pid, action, detail) "
                  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                  rid, e.at, e.host, e.user, e.pid, e.action, e.detail);
      !r) {
    return r;
  }
  // What an event records (a control action, jobs added or retried) is news
  // to the run's agents: they hear it at the commit, not at their next poll.
  return m_db.notify(rid);
}

namespace {

/// A job_outputs row read from column `c` on: host, stdout, stderr,
/// stdout_bytes, stderr_bytes, at.
StoredOutput stored_output_at(const Statement& row, int c) {
  return StoredOutput{row.text(c),      row.text(c + 1),  row.text(c + 2),
                      row.int64(c + 3), row.int64(c + 4), row.int64(c + 5)};
}

} // namespace

util::Result<std::optional<StoredOutput>> SqlStore::stored_output(int64_t jid) {
  const Doing doing(m_db, "read a job's output");
  auto st = Statement::prepare(m_db, "SELECT host, stdout, stderr, stdout_bytes, "
                                     "stderr_bytes, at FROM job_outputs WHERE jid = ?1");
  if (!st) {
    return st.error();
  }
  std::optional<StoredOutput> out;
  auto r = st->bind(1, jid).each([&](Statement& row) { out = stored_output_at(row, 0); });
  if (!r) {
    return r.error();
  }
  return out;
}

util::Result<std::vector<std::pair<std::string, StoredOutput>>>
SqlStore::stored_outputs(int64_t rid) {
  const Doing doing(m_db, "read the jobs' output");
  auto st = Statement::prepare(
      m_db,
      "SELECT j.id, o.host, o.stdout, o.stderr, o.stdout_bytes, o.stderr_bytes, o.at "
      "FROM job_outputs o JOIN jobs j ON j.jid = o.jid WHERE o.rid = ?1 ORDER BY j.seq");
  if (!st) {
    return st.error();
  }
  std::vector<std::pair<std::string, StoredOutput>> out;
  auto r = st->bind(1, rid).each(
      [&](Statement& row) { out.emplace_back(row.text(0), stored_output_at(row, 1)); });
  if (!r) {
    return r.error();
  }
  return out;
}

util::Result<void>
SqlStore::keep_outputs(int64_t rid,
                       const std::vector<std::pair<std::string, StoredOutput>>& outputs) {
  if (outputs.empty()) {
    return {};
  }
  const Doing doing(m_db, "keep the jobs' output");
  auto tx = Transaction::begin(m_db);
  if (!tx) {
    return tx.error();
  }
  for (const auto& [id, o] : outputs) {
    if (auto r = run_sql(
            m_db,
            "INSERT INTO job_outputs (jid, rid, host, stdout, stderr, stdout_bytes, "
            "stderr_bytes, at) SELECT jid, rid, ?3, ?4, ?5, ?6, ?7, ?8 FROM jobs WHERE "
            "rid = "
            "?1 AND id = ?2 ON CONFLICT (jid) DO UPDATE SET host = excluded.host, stdout "
            "= "
            "excluded.stdout, stderr = excluded.stderr, stdout_bytes = "
            "excluded.stdout_bytes, stderr_bytes = excluded.stderr_bytes, at = "
            "excluded.at",
            rid, id, o.host, o.stdout_tail, o.stderr_tail, o.stdout_bytes, o.stderr_bytes,
            o.at);
        !r) {
      return r;
    }
  }
  return tx->commit();
}

util::Result<void> SqlStore::keep_slot_logs(int64_t rid,
                                            const std::vector<StoredSlotLog>& logs) {
  if (logs.empty()) {
    return {};
  }
  const Doing doing(m_db, "keep the slot logs");
  auto tx = Transaction::begin(m_db);
  if (!tx) {
    return tx.error();
  }
  for (const auto& log : logs) {
    if (auto r =
            run_sql(m_db,
                    "INSERT INTO slot_logs (rid, host, slot, tail, bytes, at) VALUES "
                    "(?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (rid, host, slot) DO UPDATE "
                    "SET tail = excluded.tail, bytes = excluded.bytes, at = excluded.at",
                    rid, log.host, log.slot, log.tail, log.bytes, log.at);
        !r) {
      return r;
    }
  }
  return tx->commit();
}

util::Result<std::vector<StoredSlotLog>> SqlStore::stored_slot_logs(int64_t rid,
                                                                    int64_t slot) {
  const Doing doing(m_db, "read a slot's log");
  auto st = Statement::prepare(m_db, "SELECT host, slot, tail, bytes, at FROM slot_logs "
                                     "WHERE rid = ?1 AND (slot = ?2 OR ?2 < 0) ORDER BY "
                                     "slot, host");
  if (!st) {
    return st.error();
  }
  std::vector<StoredSlotLog> out;
  auto r = st->bind(1, rid).bind(2, slot).each([&](Statement& row) {
    out.push_back({row.text(0), row.int64(1), row.text(2), row.int64(3), row.int64(4)});
  });
  if (!r) {
    return r.error();
  }
  return out;
}

util::Result<std::vector<Event>> SqlStore::events(int64_t rid) {
  const Doing doing(m_db, "read the events");
  auto st = Statement::prepare(
      m_db, "SELECT at, host, \"user\", pid, action, detail FROM events "
            "WHERE rid = ?1 ORDER BY eid");
  if (!st) {
    return st.error();
  }
  std::vector<Event> out;
  auto r = st->bind(1, rid).each([&](Statement& row) {
    out.push_back(Event{row.int64(0), row.text(1), row.text(2), row.int64(3), row.text(4),
                        row.text(5)});
  });
  if (!r) {
    return r.error();
  }
  return out;
}

} // namespace muster::store::sql
