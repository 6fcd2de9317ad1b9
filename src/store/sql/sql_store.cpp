// Making the store on a connection, preparing each part's statements, and
// what the parts share: durability, a run's limits, one-value queries.

#include "store/sql/sql_store.hpp"

#include "store/codec.hpp"

#include <algorithm>
#include <functional>

namespace muster::store::sql {

util::Result<std::unique_ptr<SqlStore>> SqlStore::make(Db db, std::string files_dir) {
  std::unique_ptr<SqlStore> store(new SqlStore(std::move(db), std::move(files_dir)));
  if (auto r = store->prepare_statements(); !r) {
    return r.error();
  }
  return store;
}

SqlStore::~SqlStore() = default;

util::Result<CheckReport> SqlStore::check() {
  const Doing doing(m_db, "check every page");
  return m_db.connection().check();
}

util::Result<void> SqlStore::prepare_statements() {
  const Doing doing(m_db, "read the schema");
  // Each part prepares its own statements, once per connection.
  for (auto r :
       {m_claims.prepare(m_db, m_per_turn_sql), m_results.prepare(m_db, m_per_turn_sql),
        m_limits.prepare(m_db, m_per_turn_sql), m_locks.prepare(m_db, m_per_turn_sql),
        m_control.prepare(m_db, m_per_turn_sql)}) {
    if (!r) {
      return r;
    }
  }
  return {};
}

util::Result<void> SqlStore::set_durability(Durability d) {
  const Doing doing(m_db, "set the durability");
  return m_db.connection().set_durability(d);
}

util::Result<const SqlStore::RunLimits*> SqlStore::run_limits(int64_t rid) {
  if (auto it = m_run_limits.find(rid); it != m_run_limits.end()) {
    return &it->second;
  }
  auto st = Statement::prepare(m_db, "SELECT settings FROM runs WHERE rid = ?1");
  if (!st) {
    return st.error();
  }
  st->bind(1, rid);
  auto row = st->step();
  if (!row) {
    return row.error();
  }
  if (!*row) {
    return util::Error{"run vanished from the store", util::ErrorKind::not_found};
  }
  auto settings = decode_settings(st->text(0));
  st->reset();
  if (!settings) {
    return settings.error();
  }
  RunLimits l;
  l.limits = settings->limits;
  auto zone = util::TimeZone::load(l.limits.timezone);
  if (!zone) {
    return zone.error();
  }
  l.zone = std::move(*zone);
  l.job_locks = !settings->job_locks.empty();
  return &m_run_limits.emplace(rid, std::move(l)).first->second;
}

util::Result<int64_t> SqlStore::scalar(Statement& st) {
  auto row = st.step();
  if (!row) {
    return row.error();
  }
  const int64_t v = *row ? st.int64(0) : 0;
  st.reset();
  return v;
}

} // namespace muster::store::sql
