// Agents: their records, slot numbers and heartbeats.

#include "store/codec.hpp"
#include "store/sql/rows.hpp"
#include "store/sql/sql_store.hpp"
#include "util/time.hpp"

namespace muster::store::sql {

util::Result<int64_t> SqlStore::insert_agent(int64_t rid, const Holder& me,
                                             int64_t now_ms) {
  auto st = Statement::prepare(
      m_db, "INSERT INTO agents (rid, host, pid, start_time, \"user\", started_at, "
            "heartbeat_at, "
            "heartbeat_ms, state) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7, 'running') "
            "RETURNING aid");
  if (!st) {
    return st.error();
  }
  const int64_t hb = me.heartbeat_ms > 0 ? me.heartbeat_ms : core::k_default_heartbeat_ms;
  st->bind(1, rid)
      .bind(2, me.host)
      .bind(3, me.pid)
      .bind(4, me.start_time)
      .bind(5, me.user)
      .bind(6, now_ms)
      .bind(7, hb);
  auto aid = scalar(*st);
  if (!aid) {
    return aid.error();
  }
  m_agent_info[*aid] = AgentInfo{core::lease_ms(hb), me.host};
  return *aid;
}

util::Result<const SqlStore::AgentInfo*> SqlStore::agent_info(int64_t aid) {
  if (auto it = m_agent_info.find(aid); it != m_agent_info.end()) {
    return &it->second;
  }
  auto st =
      Statement::prepare(m_db, "SELECT heartbeat_ms, host FROM agents WHERE aid = ?1");
  if (!st) {
    return st.error();
  }
  st->bind(1, aid);
  auto row = st->step();
  if (!row) {
    return row.error();
  }
  AgentInfo info;
  info.lease_ms = core::lease_ms(std::max<int64_t>(*row ? st->int64(0) : 0, 100));
  info.host = *row ? st->text(1) : "";
  st->reset();
  return &(m_agent_info[aid] = std::move(info));
}

util::Result<std::vector<int64_t>>
SqlStore::take_slots(int64_t rid, int64_t aid, const std::string& host, int64_t n) {
  const Doing doing(m_db, "lease slot numbers");
  auto tx = Transaction::begin(m_db);
  if (!tx) {
    return tx.error();
  }
  // Numbers of agents that stopped or went offline are free again.
  if (auto r = run_sql(
          m_db,
          "DELETE FROM slot_leases WHERE rid = ?1 AND aid NOT IN (SELECT aid FROM agents "
          "WHERE rid = ?1 AND state = 'running')",
          rid);
      !r) {
    return r.error();
  }
  auto used = Statement::prepare(
      m_db, "SELECT slot FROM slot_leases WHERE rid = ?1 AND host = ?2 ORDER BY slot");
  if (!used) {
    return used.error();
  }
  std::vector<int64_t> taken;
  if (auto r = used->bind(1, rid).bind(2, host).each(
          [&](Statement& row) { taken.push_back(row.int64(0)); });
      !r) {
    return r.error();
  }
  auto lease = Statement::prepare(
      m_db, "INSERT INTO slot_leases (rid, host, slot, aid) VALUES (?1, ?2, ?3, ?4)");
  if (!lease) {
    return lease.error();
  }
  std::vector<int64_t> out;
  size_t i = 0;
  for (int64_t slot = 0; static_cast<int64_t>(out.size()) < n; ++slot) {
    while (i < taken.size() && taken[i] < slot) {
      ++i;
    }
    if (i < taken.size() && taken[i] == slot) {
      continue;
    }
    if (auto r = lease->bind(1, rid).bind(2, host).bind(3, slot).bind(4, aid).run(); !r) {
      return r.error();
    }
    out.push_back(slot);
  }
  if (auto r = run_sql(m_db,
                       "UPDATE agents SET slots = (SELECT count(*) FROM "
                       "slot_leases WHERE aid = ?1) WHERE aid = ?1",
                       aid);
      !r) {
    return r.error();
  }
  if (auto r = tx->commit(); !r) {
    return r.error();
  }
  return out;
}

util::Result<Beat> SqlStore::beat(int64_t rid, int64_t aid, double rate,
                                  const std::vector<SlotReport>& slots, int64_t now_ms,
                                  int64_t lease_ms) {
  const Doing doing(m_db, "record a heartbeat");
  auto tx = Transaction::begin(m_db);
  if (!tx) {
    return tx.error();
  }
  Beat out;
  auto state = Statement::prepare(m_db, "SELECT state, pid, host, start_time FROM agents "
                                        "WHERE aid = ?1");
  if (!state) {
    return state.error();
  }
  Holder self;
  std::string current;
  if (auto r = state->bind(1, aid).each([&](Statement& row) {
        current = row.text(0);
        self.pid = row.int64(1);
        self.host = row.text(2);
        self.start_time = row.int64(3);
      });
      !r) {
    return r.error();
  }
  if (parse_agent_state(current) != AgentState::running) {
    out.offline = true; // someone found this agent gone: its jobs are no longer its own
    return out;
  }
  if (auto r = run_sql(m_db,
                       "UPDATE agents SET heartbeat_at = ?2, slot_states = ?3 "
                       "WHERE aid = ?1",
                       aid, now_ms, encode_slot_reports(slots));
      !r) {
    return r.error();
  }
  // The run's running jobs come from jobs_running: a few rows per agent.
  auto leases =
      Statement::prepare(m_db, "UPDATE jobs SET lease_until = ?2 WHERE rid = ?3 AND "
                               "state = 'running' AND aid = ?1 RETURNING jid");
  if (!leases) {
    return leases.error();
  }
  if (auto r = leases->bind(1, aid)
                   .bind(2, now_ms + lease_ms)
                   .bind(3, rid)
                   .each([&](Statement& row) { out.held.push_back(row.int64(0)); });
      !r) {
    return r.error();
  }
  // The holder also keeps the run's own heartbeat and rate for other terminals.
  if (auto r = run_sql(
          m_db,
          "UPDATE runs SET heartbeat_at = ?2, updated_at = ?2, rate = ?3 WHERE rid = "
          "?1 AND holder_pid = ?4 AND holder_host = ?5 AND holder_start = ?6",
          rid, now_ms, rate, self.pid, self.host, self.start_time);
      !r) {
    return r.error();
  }
  if (auto r = tx->commit(); !r) {
    return r.error();
  }
  return out;
}

util::Result<void> SqlStore::end_agent(int64_t aid, AgentState state, int64_t now_ms) {
  if (auto r = run_sql(m_db,
                       "UPDATE agents SET state = ?3, stopped_at = ?2 "
                       "WHERE aid = ?1 AND state = 'running'",
                       aid, now_ms, to_string(state));
      !r) {
    return r;
  }
  return run_sql(m_db, "DELETE FROM slot_leases WHERE aid = ?1", aid);
}

util::Result<void> SqlStore::stop_agent(int64_t aid, int64_t now_ms) {
  const Doing doing(m_db, "record that the agent stopped");
  auto tx = Transaction::begin(m_db);
  if (!tx) {
    return tx.error();
  }
  if (auto r = end_agent(aid, AgentState::stopped, now_ms); !r) {
    return r;
  }
  return tx->commit();
}

util::Result<std::vector<AgentRecord>> SqlStore::agents(int64_t rid) {
  const Doing doing(m_db, "read the agents");
  auto st = Statement::prepare(
      m_db, "SELECT a.aid, a.rid, r.id, a.host, a.pid, a.start_time, a.heartbeat_at, "
            "a.heartbeat_ms, a.user, a.slots, a.started_at, a.state, a.stopped_at, "
            "a.slot_states FROM agents a JOIN runs r ON r.rid = a.rid "
            "WHERE ?1 = 0 OR a.rid = ?1 ORDER BY a.aid DESC");
  if (!st) {
    return st.error();
  }
  std::vector<AgentRecord> out;
  auto r = st->bind(1, rid).each([&](Statement& row) {
    AgentRecord a;
    a.aid = row.int64(0);
    a.rid = row.int64(1);
    a.run_id = row.text(2);
    a.who.host = row.text(3);
    a.who.pid = row.int64(4);
    a.who.start_time = row.int64(5);
    a.who.heartbeat_at = row.int64(6);
    a.who.heartbeat_ms = row.int64(7);
    a.user = row.text(8);
    a.who.user = a.user;
    a.slots = row.int64(9);
    a.started_at = row.int64(10);
    a.state = parse_agent_state(row.text(11)).value_or(AgentState::offline);
    a.stopped_at = row.optional_int64(12).value_or(0);
    a.slot_reports = decode_slot_reports(row.text(13));
    out.push_back(std::move(a));
  });
  if (!r) {
    return r.error();
  }
  return out;
}

} // namespace muster::store::sql
