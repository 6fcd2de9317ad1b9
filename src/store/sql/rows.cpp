#include "store/sql/rows.hpp"

#include "store/codec.hpp"
#include "util/strings.hpp"

namespace muster::store::sql {

Holder read_holder(const Statement& st, int first) {
  Holder h;
  h.pid = st.optional_int64(first).value_or(0);
  h.host = st.text(first + 1);
  h.start_time = st.optional_int64(first + 2).value_or(0);
  h.heartbeat_at = st.optional_int64(first + 3).value_or(0);
  return h;
}

util::Result<RunRecord> read_run(Statement& st) {
  RunRecord r;
  r.rid = st.int64(0);
  r.id = st.text(1);
  r.name = st.text(2);
  r.state = core::parse_run_state(st.text(3)).value_or(core::RunState::failed);
  auto settings = decode_settings(st.text(4));
  if (!settings) {
    return settings.error();
  }
  r.settings = std::move(*settings);
  auto columns = decode_strings(st.text(5));
  if (!columns) {
    return columns.error();
  }
  r.columns = std::move(*columns);
  r.total = st.int64(6);
  r.created_at = st.int64(7);
  r.updated_at = st.int64(8);
  r.rate = st.real(9);
  r.holder = read_holder(st, 10);
  r.resume_at = st.optional_int64(14).value_or(0);
  r.halt_reason = st.text(15);
  return r;
}

JobRecord read_job(const Statement& st) {
  JobRecord j;
  j.jid = st.int64(0);
  j.seq = st.int64(1);
  j.id = st.text(2);
  j.key = st.text(3);
  j.fields = st.text(4);
  j.raw = st.text(5);
  j.state = core::parse_job_state(st.text(6)).value_or(core::JobState::pending);
  j.attempts = st.int64(7);
  j.interrupts = st.int64(8);
  j.max_attempts = st.int64(9);
  j.exit_code = st.optional_int64(10);
  j.signal = st.optional_int64(11);
  j.error = st.text(12);
  j.error_type = st.text(13);
  j.slot = st.optional_int64(14);
  j.pid = st.optional_int64(15);
  j.pgid = st.optional_int64(16);
  j.started_at = st.optional_int64(17).value_or(0);
  j.finished_at = st.optional_int64(18).value_or(0);
  j.retry_at = st.int64(19);
  j.priority = st.int64(20);
  j.locks = split_locks(st.text(21));
  j.reason = st.text(22);
  j.agent = st.optional_int64(23).value_or(0);
  j.halts = st.int64(24);
  j.host = st.text(25);
  return j;
}

std::string join_locks(const std::vector<std::string>& names) {
  return util::join(names, "\n");
}

std::vector<std::string> split_locks(std::string_view column) {
  std::vector<std::string> out;
  while (!column.empty()) {
    const size_t nl = column.find('\n');
    out.emplace_back(column.substr(0, nl));
    column = nl == std::string_view::npos ? std::string_view() : column.substr(nl + 1);
  }
  return out;
}

Claim read_claim(const Statement& row) {
  Claim c;
  c.jid = row.int64(0);
  c.id = row.text(1);
  c.key = row.text(2);
  c.fields = row.text(3);
  c.raw = row.text(4);
  c.attempt = row.int64(5) + 1;
  c.interrupts = row.int64(6);
  c.max_attempts = row.int64(7);
  c.seq = row.int64(8);
  c.from = core::parse_job_state(row.text(9)).value_or(core::JobState::pending);
  c.locks = split_locks(row.text(10));
  c.halts = row.int64(11);
  return c;
}

util::Result<void>
prepare_all(Db& db, std::vector<std::string>& sql,
            std::initializer_list<std::pair<Statement*, std::string>> items) {
  for (const auto& [st, text] : items) {
    auto prepared = Statement::prepare(db, text);
    if (!prepared) {
      return prepared.error();
    }
    *st = std::move(*prepared);
    sql.push_back(text);
  }
  return {};
}

} // namespace muster::store::sql
