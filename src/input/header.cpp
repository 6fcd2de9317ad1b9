#include "input/header.hpp"

#include "util/strings.hpp"

#include <string_view>
#include <unordered_map>

namespace muster::input {

util::Result<void> check_header(const LineSource& source,
                                const std::vector<std::string>& names,
                                const std::vector<FieldPos>& where) {
  std::unordered_map<std::string_view, size_t> seen;
  seen.reserve(names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i].empty()) {
      return source.error_at(where[i].line, where[i].column,
                             "empty header name in field " + std::to_string(i + 1) +
                                 ": expected every column to have a name");
    }
    auto [it, added] = seen.emplace(names[i], i);
    if (!added) {
      return source.error_at(where[i].line, where[i].column,
                             "duplicate header name \"" + util::printable(names[i]) +
                                 "\" (fields " + std::to_string(it->second + 1) +
                                 " and " + std::to_string(i + 1) +
                                 "): expected each name once");
    }
  }
  return {};
}

std::string ragged_row_message(size_t found, size_t expected) {
  auto fields = [](size_t n) {
    return std::to_string(n) + (n == 1 ? " field" : " fields");
  };
  return "row has " + fields(found) + ": expected " + fields(expected) +
         ", one per header column";
}

util::Result<void> TableReader::read_header() {
  Record rec;
  std::vector<FieldPos> where;
  auto got = read_record(rec, &where);
  if (!got) {
    return got.error();
  }
  if (!*got) {
    return m_source.error_at(1, 1, "empty input: expected a header row");
  }
  rec.values.resize(m_count);
  m_columns = std::move(rec.values);
  m_header_line = rec.line;
  return check_header(m_source, m_columns, where);
}

util::Result<bool> TableReader::next(Record& rec) {
  auto got = read_record(rec, nullptr);
  if (!got || !*got) {
    return got;
  }
  if (m_count != m_columns.size()) {
    return m_source.error_at(rec.line, 1, ragged_row_message(m_count, m_columns.size()));
  }
  rec.values.resize(m_count);
  rec.names.clear();
  rec.column = 1;
  return true;
}

std::string& TableReader::field_slot(Record& rec, size_t i) {
  if (rec.values.size() <= i) {
    rec.values.emplace_back();
  }
  return rec.values[i];
}

} // namespace muster::input
