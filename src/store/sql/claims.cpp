// Claims: the due jobs a turn takes for its free slots, within halts, limits and locks.

#include "store/codec.hpp"
#include "store/sql/rows.hpp"
#include "store/sql/sql_store.hpp"
#include "util/time.hpp"

namespace muster::store::sql {

namespace {

std::string select_due_sql(const std::string& cols) {
  return "SELECT " + cols + ", k, o FROM (SELECT " + cols +
         ", 0 AS k, retry_at AS o FROM jobs WHERE rid = ?1 AND state = 'retrying' "
         "AND retry_at <= ?2 ORDER BY retry_at LIMIT ?3) AS due UNION ALL SELECT " +
         cols + ", k, o FROM (SELECT " + cols +
         ", 1 AS k, -priority AS o FROM jobs WHERE rid = ?1 AND state = 'pending' "
         "AND retry_at <= ?2 ORDER BY priority DESC, jid LIMIT ?3) AS todo "
         "ORDER BY k, o, jid LIMIT ?3";
}

// PostgreSQL takes FOR UPDATE in a WITH query, not in a branch of a UNION.
std::string select_due_skip_locked(const std::string& cols) {
  return "WITH due AS (SELECT " + cols +
         ", 0 AS k, retry_at AS o FROM jobs WHERE rid = ?1 AND state = 'retrying' "
         "AND retry_at <= ?2 ORDER BY retry_at LIMIT ?3 FOR UPDATE SKIP LOCKED), "
         "todo AS (SELECT " +
         cols +
         ", 1 AS k, -priority AS o FROM jobs WHERE rid = ?1 AND state = 'pending' "
         "AND retry_at <= ?2 ORDER BY priority DESC, jid LIMIT ?3 FOR UPDATE SKIP "
         "LOCKED) SELECT * FROM due UNION ALL SELECT * FROM todo ORDER BY k, o, jid "
         "LIMIT ?3";
}

} // namespace

util::Result<void> ClaimStatements::prepare(Db& db, std::vector<std::string>& sql) {
  const std::string cols =
      "jid, id, key, fields, raw, attempts, interrupts, max_attempts, seq, state, lock, "
      "halts";
  return prepare_all(
      db, sql,
      {
          {&select_due_retries,
           "SELECT " + cols +
               " FROM jobs WHERE rid = ?1 AND state = "
               "'retrying' AND retry_at <= ?2 ORDER BY retry_at LIMIT ?3"},
          {&select_pending,
           "SELECT " + cols +
               " FROM jobs WHERE rid = ?1 AND state = 'pending' "
               "AND retry_at <= ?2 ORDER BY priority DESC, jid LIMIT ?3"},
          // Both in one round trip, for a run without limits: due retries
          // first, then pending jobs, as many as ?3 in all. The sort keys
          // follow the claim's columns. Where writes are shared, the rows
          // are locked as they are read, and rows another claim has locked
          // are passed over.
          {&select_due,
           db.shares_writes() ? select_due_skip_locked(cols) : select_due_sql(cols)},
          {&claim,
           "UPDATE jobs SET state = 'running', attempts = attempts + 1, slot = ?1, "
           "started_at = ?2, finished_at = NULL, pid = NULL, pgid = NULL, "
           "exit_code = NULL, signal = NULL, error = NULL, error_type = NULL, "
           "retry_at = 0, reason = NULL, aid = ?4, lease_until = ?5, host = nullif(?6, "
           "'') "
           "WHERE jid = ?3"},
          {&halt_state, "SELECT resume_at, halt_reason, state FROM runs WHERE rid = ?1"},
          {&unhalt, "UPDATE runs SET state = ?3, resume_at = NULL, halt_reason = NULL, "
                    "updated_at = ?2 WHERE rid = ?1"},
          {&wake_due, "UPDATE jobs SET state = 'pending', reason = NULL, retry_at = 0 "
                      "WHERE rid = ?1 "
                      "AND state = 'waiting' AND retry_at > 0 AND retry_at <= ?2"},
          {&next_wake,
           "SELECT min(retry_at) FROM jobs WHERE rid = ?1 AND state = 'waiting' AND "
           "retry_at > 0"},
          {&next_start, "SELECT next_start_us FROM runs WHERE rid = ?1"},
          {&set_next_start, "UPDATE runs SET next_start_us = ?2 WHERE rid = ?1"},
      });
}

util::Result<SqlStore::Owner> SqlStore::owner_of(int64_t aid, int64_t now_ms) {
  // Claims are the agent's, under a lease its heartbeats renew; results
  // apply only to jobs it still owns.
  Owner owner;
  if (aid > 0) {
    auto info = agent_info(aid);
    if (!info) {
      return info.error();
    }
    owner.aid = aid;
    owner.lease_until = now_ms + (*info)->lease_ms;
    owner.host = (*info)->host;
  }
  return owner;
}

namespace {

// Whether a commit of `updates` for a run may share the database with other
// agents' commits (Writes::shared): the run counts nothing and takes no
// locks (`limited` is false), so its claims need only their own rows, and
// each result changes only its own job (and its output), not a key's
// waiters, a lock or the run's halt.
bool may_share(bool limited, const std::vector<Update>& updates) {
  if (limited) {
    return false;
  }
  return std::all_of(updates.begin(), updates.end(), [](const Update& u) {
    return u.kind == Update::Kind::started ||
           (u.key.empty() && u.locks.empty() && !u.block_key && u.halt_until == 0);
  });
}

} // namespace

util::Result<CommitResult> SqlStore::in_tx(int64_t rid,
                                           const std::vector<Update>& updates,
                                           const std::vector<int64_t>& free_slots,
                                           int64_t now_ms, int64_t aid) {
  auto rl = run_limits(rid); // read once, and never changed: outside the transaction
  if (!rl) {
    return rl.error();
  }
  const Writes writes =
      m_db.shares_writes() && may_share((*rl)->limits.any() || (*rl)->job_locks, updates)
          ? Writes::shared
          : Writes::exclusive;
  auto tx = Transaction::begin(m_db, writes);
  if (!tx) {
    return tx.error();
  }
  auto owner = owner_of(aid, now_ms);
  if (!owner) {
    return owner.error();
  }
  CommitResult out;
  if (auto r = record_in_tx(rid, updates, **rl, *owner, now_ms, out); !r) {
    return r.error();
  }
  if (auto r = claim_in_tx(rid, free_slots, **rl, *owner, now_ms, out); !r) {
    return r.error();
  }
  if (auto r = tx->commit(); !r) {
    return r.error();
  }
  return out;
}

util::Result<CommitResult> SqlStore::record(int64_t rid,
                                            const std::vector<Update>& updates,
                                            int64_t now_ms, int64_t aid) {
  const Doing doing(m_db, "record results");
  return in_tx(rid, updates, {}, now_ms, aid);
}

util::Result<CommitResult> SqlStore::claim(int64_t rid,
                                           const std::vector<int64_t>& free_slots,
                                           int64_t now_ms, int64_t aid) {
  const Doing doing(m_db, "claim jobs");
  return in_tx(rid, {}, free_slots, now_ms, aid);
}

util::Result<CommitResult> SqlStore::commit(int64_t rid,
                                            const std::vector<Update>& updates,
                                            const std::vector<int64_t>& free_slots,
                                            int64_t now_ms, int64_t aid) {
  const Doing doing(m_db, "record results and claim jobs");
  return in_tx(rid, updates, free_slots, now_ms, aid);
}

util::Result<void> SqlStore::claim_in_tx(int64_t rid,
                                         const std::vector<int64_t>& free_slots,
                                         const RunLimits& rl, const Owner& owner,
                                         int64_t now_ms, CommitResult& out) {
  if (free_slots.empty()) {
    return {};
  }
  // A halted run claims nothing until its cooldown ends; then it runs again.
  m_claims.halt_state.bind(1, rid);
  int64_t resume_at = 0;
  core::RunState state = core::RunState::running;
  auto read = m_claims.halt_state.each([&](Statement& row) {
    resume_at = row.optional_int64(0).value_or(0);
    out.halt_reason = row.text(1);
    state = core::parse_run_state(row.text(2)).value_or(core::RunState::running);
  });
  if (!read) {
    return read;
  }
  if (resume_at > now_ms) {
    out.halted_until = resume_at;
  } else {
    out.halt_reason.clear();
    if (resume_at > 0) {
      if (auto r = m_claims.unhalt.bind(1, rid)
                       .bind(2, now_ms)
                       .bind(3, core::to_string(core::state_after_halt(state)))
                       .run();
          !r) {
        return r;
      }
    }
    const bool limited = rl.limits.any() || rl.job_locks;
    if (limited) {
      if (rl.job_locks && now_ms - m_lock_sweep[rid] >= 1000) {
        // Once a second, jobs waiting on a lock that is free again wake up,
        // whoever freed it (a run that ended, an agent that was recovered).
        m_lock_sweep[rid] = now_ms;
        if (auto r = m_locks.expire_locks.bind(1, now_ms).run(); !r) {
          return r;
        }
        if (auto r = m_locks.wake_free_locks.bind(1, rid).run(); !r) {
          return r;
        }
        const int64_t woke = m_db.changes();
        out.moved[core::JobState::waiting] -= woke;
        out.moved[core::JobState::pending] += woke;
      }
      // Jobs whose day window has opened may be claimed again.
      m_claims.wake_due.bind(1, rid).bind(2, now_ms);
      if (auto r = m_claims.wake_due.run(); !r) {
        return r;
      }
      const int64_t woke = m_db.changes();
      out.moved[core::JobState::waiting] -= woke;
      out.moved[core::JobState::pending] += woke;
      if (auto r = claim_limited(rid, free_slots, rl, owner, now_ms, out); !r) {
        return r;
      }
      if (out.claims.size() < free_slots.size()) {
        m_claims.next_wake.bind(1, rid);
        auto next = scalar(m_claims.next_wake);
        if (!next) {
          return next.error();
        }
        if (*next > 0 && (out.wake_at == 0 || *next < out.wake_at)) {
          out.wake_at = *next;
        }
      }
    } else {
      size_t next_slot = 0;
      const auto want = static_cast<int64_t>(free_slots.size());
      if (auto r = claim_into(rid, m_claims.select_due, want, free_slots, owner,
                              next_slot, now_ms, out.claims);
          !r) {
        return r;
      }
    }
  }
  return {};
}

util::Result<void> SqlStore::claim_limited(int64_t rid,
                                           const std::vector<int64_t>& free_slots,
                                           const RunLimits& rl, const Owner& owner,
                                           int64_t now_ms, CommitResult& out) {
  const auto& l = rl.limits;
  core::DayWindow window;
  if (l.per_key_daily > 0) {
    window = core::day_window(now_ms, l.day_start_min, rl.zone);
  }
  int64_t next_start_us = 0;
  if (l.rate_interval_us > 0) {
    m_claims.next_start.bind(1, rid);
    auto v = scalar(m_claims.next_start);
    if (!v) {
      return v.error();
    }
    next_start_us = *v;
  }
  const int64_t now_us = now_ms * 1000;
  const size_t want = free_slots.size();
  // Candidates in batches: each is claimed or moved to waiting, so the next
  // batch starts after it, and a held-back job is read once.
  const int64_t batch = static_cast<int64_t>(std::max<size_t>(want * 2, 16));
  for (Statement* select : {&m_claims.select_due_retries, &m_claims.select_pending}) {
    for (;;) {
      if (out.claims.size() >= want) {
        return {};
      }
      std::vector<Claim> candidates;
      select->bind(1, rid).bind(2, now_ms).bind(3, batch);
      auto read =
          select->each([&](Statement& row) { candidates.push_back(read_claim(row)); });
      if (!read) {
        return read;
      }
      for (auto& c : candidates) {
        if (out.claims.size() >= want) {
          return {};
        }
        if (l.rate_interval_us > 0 && next_start_us > now_us) {
          out.wake_at = (next_start_us + 999) / 1000;
          return {}; // the run's start rate: nothing more starts before then
        }
        auto why = blocked(rid, c, rl, now_ms, window);
        if (!why) {
          return why.error();
        }
        if (*why) {
          if (auto r = hold_back(rid, c, **why, out); !r) {
            return r;
          }
          continue;
        }
        if (auto r =
                take(rid, c, free_slots[out.claims.size()], rl, owner, window, now_ms);
            !r) {
          return r;
        }
        if (l.rate_interval_us > 0) {
          next_start_us = std::max(next_start_us, now_us) + l.rate_interval_us;
          m_claims.set_next_start.bind(1, rid).bind(2, next_start_us);
          if (auto r = m_claims.set_next_start.run(); !r) {
            return r;
          }
        }
        out.claims.push_back(std::move(c));
      }
      if (static_cast<int64_t>(candidates.size()) < batch) {
        break;
      }
    }
  }
  return {};
}

util::Result<void> SqlStore::claim_into(int64_t rid, Statement& select, int64_t limit,
                                        const std::vector<int64_t>& free_slots,
                                        const Owner& owner, size_t& next_slot,
                                        int64_t now_ms, std::vector<Claim>& out) {
  select.bind(1, rid).bind(2, now_ms).bind(3, limit);
  const size_t first = out.size();
  auto read = select.each([&](Statement& row) { out.push_back(read_claim(row)); });
  if (!read) {
    return read.error();
  }
  std::vector<Claim*> taken;
  for (size_t i = first; i < out.size(); ++i) {
    out[i].slot = free_slots[next_slot++];
    out[i].claimed_at = now_ms;
    taken.push_back(&out[i]);
  }
  return claim_all(taken, owner, now_ms);
}

util::Result<void> SqlStore::take(int64_t rid, Claim& c, int64_t slot,
                                  const RunLimits& rl, const Owner& owner,
                                  const core::DayWindow& window, int64_t now_ms) {
  c.slot = slot;
  c.claimed_at = now_ms;
  if (auto r = m_claims.claim.bind(1, slot)
                   .bind(2, now_ms)
                   .bind(3, c.jid)
                   .bind(4, owner.aid)
                   .bind(5, owner.lease_until)
                   .bind(6, owner.host)
                   .run();
      !r) {
    return r;
  }
  for (const auto& name : c.locks) {
    if (auto r = m_locks.lock_job.bind(1, name)
                     .bind(2, rid)
                     .bind(3, c.jid)
                     .bind(4, now_ms)
                     .run();
        !r) {
      return r;
    }
  }
  if (!c.key.empty() && rl.limits.per_key_daily > 0 &&
      rl.limits.count == core::CapCount::attempts) {
    if (auto r =
            m_limits.count_key.bind(1, rid).bind(2, c.key).bind(3, window.start_ms).run();
        !r) {
      return r;
    }
  }
  return {};
}

} // namespace muster::store::sql
