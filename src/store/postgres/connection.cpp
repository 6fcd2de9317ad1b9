#include "store/postgres/connection.hpp"

#include "util/time.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <libpq-fe.h>
#include <optional>
#include <utility>
#include <vector>

namespace muster::store::postgres {

namespace {

/// A libpq message on one line: its lines joined, without the server's
/// "ERROR:  " or "FATAL:  ", and any password in it masked.
std::string one_line(const char* msg) {
  std::string s;
  for (const char* p = msg ? msg : ""; *p; ++p) {
    if (*p == '\n' || *p == '\t') {
      if (!s.empty() && s.back() != ' ') {
        s += ' ';
      }
    } else {
      s += *p;
    }
  }
  while (!s.empty() && s.back() == ' ') {
    s.pop_back();
  }
  for (const char* tag : {"ERROR:  ", "FATAL:  "}) {
    for (size_t at; (at = s.find(tag)) != std::string::npos;) {
      s.erase(at, std::strlen(tag));
    }
  }
  return mask_password(s);
}

/// The kind of error a SQLSTATE names.
util::ErrorKind kind_of(std::string_view state) {
  if (state == "53100") {
    return util::ErrorKind::disk_full;
  }
  if (state.substr(0, 2) == "08" || state.substr(0, 2) == "53" ||
      state.substr(0, 3) == "57P" || state == "42501" || state == "25006" ||
      state == "40001" || state == "40P01" || state == "55P03") {
    return util::ErrorKind::store_unavailable;
  }
  if (state.substr(0, 2) == "22") {
    return util::ErrorKind::bad_input;
  }
  if (state == "XX001" || state == "XX002") {
    return util::ErrorKind::corrupt;
  }
  return util::ErrorKind::internal;
}

/// One statement, prepared on the server the first time it runs.
class PgCursor final : public sql::Cursor {
public:
  PgCursor(Connection& conn, std::string sql, std::vector<int> slots, int params)
      : m_conn(conn), m_sql(std::move(sql)), m_slots(std::move(slots)),
        m_values(static_cast<size_t>(params)) {}
  ~PgCursor() override {
    PQclear(m_res);
    if (m_prepared_epoch == m_conn.epoch() && !m_name.empty()) {
      m_conn.forget(m_name);
    }
  }
  PgCursor(const PgCursor&) = delete;
  PgCursor& operator=(const PgCursor&) = delete;

  void bind(int index, int64_t value) override { set(index, std::to_string(value)); }
  void bind(int index, std::string_view text) override { set(index, std::string(text)); }
  void bind(int index, double value) override {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.17g", value);
    set(index, buf);
  }
  void bind_null(int index) override {
    if (auto* v = value(index)) {
      v->reset();
    }
  }

  util::Result<bool> step() override {
    if (!m_res) {
      if (auto r = execute(); !r) {
        return r.error();
      }
    }
    if (m_row + 1 < m_rows) {
      ++m_row;
      return true;
    }
    return false;
  }
  void reset() override {
    PQclear(m_res);
    m_res = nullptr;
    m_row = -1;
    m_rows = 0;
    for (auto& v : m_values) {
      v.reset();
    }
  }
  int64_t int64(int col) const override {
    const char* v = PQgetvalue(m_res, m_row, col);
    if (v[0] == 't' && v[1] == '\0') {
      return 1;
    }
    if (v[0] == 'f' && v[1] == '\0') {
      return 0;
    }
    return std::strtoll(v, nullptr, 10);
  }
  double real(int col) const override {
    return std::strtod(PQgetvalue(m_res, m_row, col), nullptr);
  }
  std::string text(int col) const override {
    if (PQgetisnull(m_res, m_row, col)) {
      return {};
    }
    return std::string(PQgetvalue(m_res, m_row, col),
                       static_cast<size_t>(PQgetlength(m_res, m_row, col)));
  }
  bool is_null(int col) const override { return PQgetisnull(m_res, m_row, col) != 0; }

private:
  std::optional<std::string>* value(int index) {
    if (index <= 0 || static_cast<size_t>(index) >= m_slots.size() ||
        m_slots[static_cast<size_t>(index)] == 0) {
      return nullptr; // a parameter this statement does not use
    }
    return &m_values[static_cast<size_t>(m_slots[static_cast<size_t>(index)] - 1)];
  }
  void set(int index, std::string text) {
    if (auto* v = value(index)) {
      *v = std::move(text);
    }
  }

  util::Result<void> execute() {
    if (auto r = m_conn.ensure_connected(); !r) {
      return r.error();
    }
    std::vector<const char*> values;
    values.reserve(m_values.size());
    for (const auto& v : m_values) {
      values.push_back(v ? v->c_str() : nullptr);
    }
    const int n = static_cast<int>(values.size());
    PGresult* res = nullptr;
    if (m_runs++ == 0) {
      // A statement run once is not worth a name on the server.
      res = PQexecParams(m_conn.handle(), m_sql.c_str(), n, nullptr, values.data(),
                         nullptr, nullptr, 0);
    } else {
      if (m_prepared_epoch != m_conn.epoch()) {
        m_name = m_conn.next_statement_name();
        if (auto r = m_conn.finish(
                PQprepare(m_conn.handle(), m_name.c_str(), m_sql.c_str(), n, nullptr),
                false);
            !r) {
          return r.error();
        }
        m_prepared_epoch = m_conn.epoch();
      }
      res = PQexecPrepared(m_conn.handle(), m_name.c_str(), n, values.data(), nullptr,
                           nullptr, 0);
    }
    if (auto r = m_conn.finish(res, true); !r) {
      return r.error();
    }
    m_res = res;
    m_rows = PQresultStatus(res) == PGRES_TUPLES_OK ? PQntuples(res) : 0;
    m_row = -1;
    return {};
  }

  Connection& m_conn;
  std::string m_sql;
  std::vector<int> m_slots;
  std::vector<std::optional<std::string>> m_values;
  std::string m_name;
  uint64_t m_prepared_epoch = 0;
  int64_t m_runs = 0;
  PGresult* m_res = nullptr;
  int m_row = -1;
  int m_rows = 0;
};

} // namespace

std::string mask_password(std::string_view url) {
  std::string out(url);
  // postgres://user:PASSWORD@host/...
  if (const auto scheme = out.find("://"); scheme != std::string::npos) {
    const auto auth_end = out.find_first_of("/?#", scheme + 3);
    const auto at = out.rfind('@', auth_end == std::string::npos ? out.size() : auth_end);
    if (at != std::string::npos && at > scheme) {
      const auto colon = out.find(':', scheme + 3);
      if (colon != std::string::npos && colon < at) {
        out.replace(colon + 1, at - colon - 1, "***");
      }
    }
  }
  // ...?password=PASSWORD&... and password=PASSWORD in a connection string
  for (size_t pos = 0; (pos = out.find("password=", pos)) != std::string::npos;) {
    if (pos > 0 && std::isalnum(static_cast<unsigned char>(out[pos - 1]))) {
      pos += 9;
      continue;
    }
    const size_t start = pos + 9;
    size_t end = start;
    if (end < out.size() && out[end] == '\'') {
      end = out.find('\'', end + 1);
      end = end == std::string::npos ? out.size() : end + 1;
    } else {
      end = out.find_first_of("& ", start);
      end = end == std::string::npos ? out.size() : end;
    }
    out.replace(start, end - start, "***");
    pos = start + 3;
  }
  return out;
}

std::string to_dollar_params(std::string_view sql, std::vector<int>& slots) {
  std::string out;
  out.reserve(sql.size() + 8);
  slots.assign(1, 0);
  int next = 0;    // the last $ number given
  int highest = 0; // the highest ?N seen, for a bare ?
  for (size_t i = 0; i < sql.size(); ++i) {
    const char c = sql[i];
    if (c == '\'' || c == '"') {
      const size_t end = sql.find(c, i + 1);
      const size_t stop = end == std::string_view::npos ? sql.size() : end + 1;
      out.append(sql.substr(i, stop - i));
      i = stop - 1;
      continue;
    }
    if (c == '-' && i + 1 < sql.size() && sql[i + 1] == '-') {
      const size_t end = sql.find('\n', i);
      const size_t stop = end == std::string_view::npos ? sql.size() : end;
      out.append(sql.substr(i, stop - i));
      i = stop - 1;
      continue;
    }
    if (c != '?') {
      out += c;
      continue;
    }
    int n = 0;
    size_t j = i + 1;
    while (j < sql.size() && sql[j] >= '0' && sql[j] <= '9') {
      n = n * 10 + (sql[j] - '0');
      ++j;
    }
    if (j == i + 1) {
      n = highest + 1;
    }
    highest = std::max(highest, n);
    if (static_cast<size_t>(n) >= slots.size()) {
      slots.resize(static_cast<size_t>(n) + 1, 0);
    }
    if (slots[static_cast<size_t>(n)] == 0) {
      slots[static_cast<size_t>(n)] = ++next;
    }
    out += '$' + std::to_string(slots[static_cast<size_t>(n)]);
    i = j - 1;
  }
  return out;
}

// Every session, also after a reconnection. The store's statements are
// short reads and writes through indexes: compiling one (JIT, which the
// server does once a plan's estimate is high, as for a count over a big run)
// would cost more than running it.
constexpr const char* k_session_setup =
    "SET client_encoding = 'UTF8'; SET TIME ZONE 'UTC'; SET jit = off";

util::Result<std::unique_ptr<Connection>> Connection::open(const std::string& url) {
  std::unique_ptr<Connection> c(new Connection);
  c->m_url = url;
  c->m_where = mask_password(url);
  // A URL libpq cannot read is bad input, said before any connection.
  char* parse_error = nullptr;
  if (PQconninfoOption* opts = PQconninfoParse(url.c_str(), &parse_error); opts) {
    PQconninfoFree(opts);
  } else {
    const std::string why = one_line(parse_error ? parse_error : "out of memory");
    PQfreemem(parse_error);
    return util::Error{"--store " + c->m_where +
                           ": not a PostgreSQL URL libpq can read (" + why +
                           "); expected postgres://USER@HOST[:PORT]/DATABASE",
                       util::ErrorKind::bad_input};
  }
  // The URL's own settings win over these defaults (libpq reads the
  // keywords in order, and expands dbname into the URL's).
  // A lost network shows within seconds, not at TCP's timeout of minutes:
  // keepalives on an idle connection, a bound on unacknowledged data on a
  // busy one (the fencing timer does not wait for them; see FenceTimer).
  const char* keys[] = {"connect_timeout",
                        "application_name",
                        "keepalives",
                        "keepalives_idle",
                        "keepalives_interval",
                        "keepalives_count",
                        "tcp_user_timeout",
                        "dbname",
                        nullptr};
  const char* values[] = {"5", "muster", "1",         "2",    "1",
                          "3", "5000",   url.c_str(), nullptr};
  c->m_conn = PQconnectdbParams(keys, values, 1);
  if (!c->m_conn || PQstatus(c->m_conn) != CONNECTION_OK) {
    return c->connection_error(c->m_conn ? PQerrorMessage(c->m_conn) : "out of memory");
  }
  // NOTICEs ("relation already exists, skipping") are not for the user.
  PQsetNoticeProcessor(
      c->m_conn, [](void*, const char*) {}, nullptr);
  if (auto r = c->exec(k_session_setup); !r) {
    return r.error();
  }
  c->m_epoch = 1;
  if (auto r = c->follow_server_clock(); !r) {
    return r.error();
  }
  return c;
}

Connection::~Connection() {
  if (m_conn) {
    PQfinish(m_conn);
  }
}

util::Result<void> Connection::follow_server_clock() {
  // The server's clock against this host's, from the middle of the round
  // trip (RTT/2 off at most): leases, heartbeats, day windows and retry_at
  // then use the server's clock on every host, whatever their own say.
  const int64_t before = util::now_ms() - util::clock_offset_ms();
  auto server =
      one_value("SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint");
  const int64_t after = util::now_ms() - util::clock_offset_ms();
  if (!server) {
    return server.error();
  }
  util::set_clock_offset_ms(std::strtoll(server->c_str(), nullptr, 10) -
                            (before + after) / 2);
  return {};
}

util::Result<std::string> Connection::one_value(const char* sql) {
  PGresult* res = PQexec(m_conn, sql);
  if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
    if (auto r = finish(res, false); !r) {
      return r.error();
    }
    return util::Error{"cannot " + std::string(doing) + " in store " + m_where +
                           ": the server answered no value",
                       util::ErrorKind::internal};
  }
  std::string value = PQgetvalue(res, 0, 0);
  PQclear(res);
  return value;
}

std::string damaged_advice() {
  return "check the server's own logs; PostgreSQL checks its pages itself (data "
         "checksums, amcheck)";
}

util::Error Connection::connection_error(std::string_view why) const {
  // libpq says "connection to server at "HOST" (ADDR), port N failed: WHY":
  // the message names the host and port, and one_line masks any password.
  const std::string reason = one_line(std::string(why).c_str());
  return util::Error{"cannot " + std::string(doing) + " in store " + m_where + ": " +
                         reason +
                         "; check that the server runs and takes connections, and the "
                         "user, database and password (PGPASSWORD, ~/.pgpass)",
                     util::ErrorKind::store_unavailable};
}

util::Result<void> Connection::ensure_connected() {
  if (PQstatus(m_conn) == CONNECTION_OK) {
    return {};
  }
  if (m_in_tx) {
    return connection_error("the connection to the server was lost");
  }
  PQreset(m_conn);
  if (PQstatus(m_conn) != CONNECTION_OK) {
    return connection_error(PQerrorMessage(m_conn));
  }
  ++m_epoch;
  m_forgotten.clear();
  PQsetNoticeProcessor(
      m_conn, [](void*, const char*) {}, nullptr);
  if (auto r = exec(k_session_setup); !r) {
    return r;
  }
  for (const auto& channel : m_channels) {
    if (auto r = exec("LISTEN " + channel); !r) {
      return r;
    }
  }
  if (m_idle_limit_ms > 0) {
    if (auto r = limit_idle_transactions(m_idle_limit_ms); !r) {
      return r;
    }
  }
  return follow_server_clock();
}

util::Result<void> Connection::finish(pg_result* res, bool keep) {
  m_unique.clear();
  const auto status = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
    const char* n = PQcmdTuples(res);
    m_changes = n && *n ? std::strtoll(n, nullptr, 10) : 0;
    if (!keep) {
      PQclear(res);
    }
    return {};
  }
  if (!res || PQstatus(m_conn) != CONNECTION_OK) {
    PQclear(res);
    return connection_error(PQerrorMessage(m_conn));
  }
  const char* state_field = PQresultErrorField(res, PG_DIAG_SQLSTATE);
  const std::string state = state_field ? state_field : "";
  std::string why = one_line(PQresultErrorMessage(res));
  if (state == "23505") {
    const char* table = PQresultErrorField(res, PG_DIAG_TABLE_NAME);
    const char* constraint = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
    // Constraints are named TABLE_COLUMN_key, as PostgreSQL names them.
    std::string t = table ? table : "";
    std::string column = constraint ? constraint : "";
    if (column.rfind(t + "_", 0) == 0 && column.size() > t.size() + 5 &&
        column.compare(column.size() - 4, 4, "_key") == 0) {
      column = column.substr(t.size() + 1, column.size() - t.size() - 5);
    } else {
      column.clear();
    }
    m_unique = t + "." + column;
  }
  PQclear(res);
  return util::Error{"cannot " + std::string(doing) + " in store " + m_where + ": " + why,
                     kind_of(state)};
}

util::Result<void> Connection::exec(std::string_view sql) {
  if (auto r = ensure_connected(); !r) {
    return r.error();
  }
  return finish(PQexec(m_conn, std::string(sql).c_str()), false);
}

util::Result<std::unique_ptr<sql::Cursor>> Connection::prepare(std::string_view sql) {
  std::vector<int> slots;
  std::string text = to_dollar_params(sql, slots);
  int params = 0;
  for (const int s : slots) {
    params = std::max(params, s);
  }
  return std::unique_ptr<sql::Cursor>(
      new PgCursor(*this, std::move(text), std::move(slots), params));
}

// Every write transaction takes one advisory lock, held to its end:
// exclusive writes are serialized as SQLite's BEGIN IMMEDIATE serializes
// them, so that the limits, locks and claims each transaction checks cannot
// change under it. Shared writes hold it shared: they run side by side, and
// never beside an exclusive one.
constexpr const char* k_begin = "BEGIN; SELECT pg_advisory_xact_lock(7171262)";
constexpr const char* k_begin_shared =
    "BEGIN; SELECT pg_advisory_xact_lock_shared(7171262)";

void Connection::forget(const std::string& name) {
  m_forgotten += "DEALLOCATE " + name + "; ";
}

util::Result<void> Connection::begin(sql::Writes writes) {
  // Statements no cursor runs any more are freed on the way.
  std::string sql =
      std::move(m_forgotten) + (writes == sql::Writes::shared ? k_begin_shared : k_begin);
  m_forgotten.clear();
  if (auto r = exec(sql); !r) {
    return r.error();
  }
  m_in_tx = true;
  return {};
}

util::Result<void> Connection::commit() {
  m_in_tx = false;
  return exec("COMMIT");
}

util::Result<void> Connection::rollback() {
  m_in_tx = false;
  if (PQstatus(m_conn) != CONNECTION_OK) {
    return {}; // the server rolled it back when the connection ended
  }
  return exec("ROLLBACK");
}

util::Result<CheckReport> Connection::check() {
  CheckReport report{m_where, {}, ""};
  auto r = exec("SELECT count(*) FROM runs; SELECT count(*) FROM jobs");
  if (!r) {
    report.problems.push_back(r.error().message);
    report.advice = damaged_advice();
    return report;
  }
  // What a foreign key would refuse (the schema has none, for speed).
  auto count =
      one_value("SELECT count(*) FROM jobs j WHERE NOT EXISTS (SELECT 1 FROM runs "
                "r WHERE r.rid = j.rid)");
  if (!count) {
    report.problems.push_back(count.error().message);
    return report;
  }
  if (const int64_t orphans = std::strtoll(count->c_str(), nullptr, 10); orphans > 0) {
    report.problems.push_back(std::to_string(orphans) + " job(s) belong to no run");
    report.advice =
        "delete them (DELETE FROM jobs WHERE rid NOT IN (SELECT rid FROM runs))";
  }
  return report;
}

util::Result<std::string> Connection::scoped(std::string_view channel) {
  if (m_scope.empty()) {
    // The schema the store's tables are in (the first of search_path that
    // exists); it does not change for the connection's life.
    auto schema = one_value("SELECT coalesce(current_schema(), '')");
    if (!schema) {
      return schema.error();
    }
    uint64_t hash = 14695981039346656037ULL; // FNV-1a
    for (const unsigned char c : *schema) {
      hash = (hash ^ c) * 1099511628211ULL;
    }
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash));
    m_scope = std::string("muster_") + hex + "_";
  }
  constexpr std::string_view k_prefix = "muster_";
  return m_scope +
         std::string(channel.substr(channel.starts_with(k_prefix) ? k_prefix.size() : 0));
}

// Channels are names muster makes (Db::channel): letters, digits and _.
util::Result<void> Connection::notify(std::string_view channel) {
  auto name = scoped(channel);
  if (!name) {
    return name.error();
  }
  const int64_t changes = m_changes;
  auto r = exec("NOTIFY " + *name);
  m_changes = changes;
  return r;
}

util::Result<void> Connection::listen(std::string_view channel) {
  auto name = scoped(channel);
  if (!name) {
    return name.error();
  }
  if (std::find(m_channels.begin(), m_channels.end(), *name) == m_channels.end()) {
    m_channels.push_back(*name);
  }
  return exec("LISTEN " + *name);
}

util::Result<void> Connection::limit_idle_transactions(int64_t ms) {
  m_idle_limit_ms = ms;
  return exec("SET idle_in_transaction_session_timeout = " + std::to_string(ms));
}

int Connection::wake_fd() const {
  return PQstatus(m_conn) == CONNECTION_OK ? PQsocket(m_conn) : -1;
}

bool Connection::take_notifications() {
  if (m_in_tx || PQstatus(m_conn) != CONNECTION_OK) {
    return false;
  }
  // Reads what the socket has without blocking; notifications that came
  // with the replies of earlier statements are already queued.
  PQconsumeInput(m_conn);
  bool news = false;
  const int me = PQbackendPID(m_conn);
  while (PGnotify* n = PQnotifies(m_conn)) {
    news = news || n->be_pid != me; // this connection's own commits are no news
    PQfreemem(n);
  }
  return news;
}

util::Result<void> Connection::copy_in(std::string_view copy, std::string_view data) {
  if (auto r = ensure_connected(); !r) {
    return r.error();
  }
  PGresult* res = PQexec(m_conn, std::string(copy).c_str());
  if (PQresultStatus(res) != PGRES_COPY_IN) {
    return finish(res, false);
  }
  PQclear(res);
  // A blocking connection: PQputCopyData queues or sends it all, or fails.
  const bool sent =
      PQputCopyData(m_conn, data.data(), static_cast<int>(data.size())) == 1;
  if (PQputCopyEnd(m_conn, sent ? nullptr : "muster: the rows could not be sent") != 1) {
    return connection_error(PQerrorMessage(m_conn));
  }
  // The COPY's outcome (a unique violation says which constraint), then
  // the end of the command.
  auto out = finish(PQgetResult(m_conn), false);
  while (PGresult* rest = PQgetResult(m_conn)) {
    PQclear(rest);
  }
  return out;
}

util::Result<void> Connection::set_durability(Durability d) {
  return exec(d == Durability::full ? "SET synchronous_commit = on"
                                    : "SET synchronous_commit = DEFAULT");
}

} // namespace muster::store::postgres
