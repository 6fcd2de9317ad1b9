// Tab-separated values with a required header row: no quoting, and a value's
// tab, newline, carriage return and backslash written \t \n \r \\ (the
// "linear TSV" convention). Other backslashes are kept as they are.

#include "input/formats.hpp"
#include "input/header.hpp"

#include <cstring>

namespace muster::input {

namespace {

constexpr char k_sep = '\t';

void decode_into(std::string& out, std::string_view text) {
  if (std::memchr(text.data(), '\\', text.size()) == nullptr) {
    out.assign(text);
    return;
  }
  out.clear();
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    char decoded = 0;
    if (c == '\\' && i + 1 < text.size()) {
      switch (text[i + 1]) {
      case 't':
        decoded = '\t';
        break;
      case 'n':
        decoded = '\n';
        break;
      case 'r':
        decoded = '\r';
        break;
      case '\\':
        decoded = '\\';
        break;
      default:
        break;
      }
    }
    if (decoded != 0) {
      out += decoded;
      ++i;
    } else {
      out += c;
    }
  }
}

class TsvReader final : public Reader {
public:
  explicit TsvReader(LineSource source) : m_source(std::move(source)) {}

  util::Result<void> read_header() {
    Record rec;
    std::vector<FieldPos> where;
    auto got = read_row(rec, &where);
    if (!got) {
      return got.error();
    }
    if (!*got) {
      return m_source.error_at(1, 1, "empty input: expected a header row");
    }
    rec.values.resize(m_count);
    m_columns = std::move(rec.values);
    return check_header(m_source, m_columns, where);
  }

  const std::vector<std::string>& columns() const override { return m_columns; }

  util::Result<bool> next(Record& rec) override {
    auto got = read_row(rec, nullptr);
    if (!got || !*got) {
      return got;
    }
    if (m_count != m_columns.size()) {
      return m_source.error_at(rec.line, 1,
                               ragged_row_message(m_count, m_columns.size()));
    }
    rec.values.resize(m_count);
    rec.names.clear();
    return true;
  }

private:
  // Reads one non-empty line into rec.raw, rec.line and the first m_count
  // entries of rec.values; false at the end of the input.
  util::Result<bool> read_row(Record& rec, std::vector<FieldPos>* where) {
    std::string_view line;
    do {
      auto got = m_source.next(line);
      if (!got || !*got) {
        return got;
      }
      line = strip_cr(line);
    } while (line.empty());

    rec.line = m_source.line_number();
    rec.raw.assign(line);
    m_count = 0;
    size_t start = 0;
    for (;;) {
      size_t tab = line.find(k_sep, start);
      size_t end = tab == std::string_view::npos ? line.size() : tab;
      if (rec.values.size() <= m_count) {
        rec.values.emplace_back();
      }
      decode_into(rec.values[m_count++], line.substr(start, end - start));
      if (where != nullptr) {
        where->push_back({rec.line, start + 1});
      }
      if (tab == std::string_view::npos) {
        return true;
      }
      start = tab + 1;
    }
  }

  LineSource m_source;
  std::vector<std::string> m_columns;
  size_t m_count = 0; // fields in the row read last
};

} // namespace

util::Result<std::unique_ptr<Reader>> open_tsv_reader(LineSource source) {
  auto reader = std::make_unique<TsvReader>(std::move(source));
  if (auto r = reader->read_header(); !r) {
    return r.error();
  }
  return std::unique_ptr<Reader>(std::move(reader));
}

} // namespace muster::input
