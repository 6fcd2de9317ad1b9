// CSV as RFC 4180 describes it, with a required header row. Accepts LF or CRLF
// line endings and skips completely empty lines.

#include "input/formats.hpp"
#include "input/header.hpp"

#include <cstdio>

namespace muster::input {

namespace {

constexpr char k_sep = ',';
constexpr char k_quote = '"';

// The byte as a reader can see it in a message.
std::string describe_byte(char c) {
  auto u = static_cast<unsigned char>(c);
  if (u >= 0x21 && u < 0x7f) {
    return std::string("'") + c + "'";
  }
  char buf[16];
  std::snprintf(buf, sizeof buf, "byte 0x%02X", u);
  return buf;
}

class CsvReader final : public TableReader {
public:
  explicit CsvReader(LineSource source) : TableReader(std::move(source)) {}

private:
  // Reads one record into rec.raw, rec.line and the first m_count entries of
  // rec.values (entries after them are stale); false at the end of the input.
  // `where`, when given, gets where each field starts.
  util::Result<bool> read_record(Record& rec, std::vector<FieldPos>* where) override {
    std::string_view line;
    do {
      auto got = m_source.next(line);
      if (!got || !*got) {
        return got;
      }
    } while (line.empty() || line == "\r");

    rec.line = m_source.line_number();
    std::string& raw = rec.raw;
    raw.assign(line);
    size_t line_no = rec.line;
    size_t line_start = 0; // offset in raw of line line_no
    size_t i = 0;
    m_count = 0;
    for (;;) {
      std::string& value = field_slot(rec, m_count++);
      if (where != nullptr) {
        where->push_back({line_no, i - line_start + 1});
      }
      if (i < raw.size() && raw[i] == k_quote) {
        size_t open_line = line_no;
        size_t open_column = i - line_start + 1;
        value.clear();
        ++i;
        for (;;) {
          size_t q = raw.find(k_quote, i);
          if (q == std::string::npos) {
            // The field holds a line break: take the next line too.
            value.append(raw, i, std::string::npos);
            auto got = m_source.next(line);
            if (!got) {
              return got.error();
            }
            if (!*got) {
              return m_source.error_at(
                  open_line, open_column,
                  "unterminated quoted field: expected a closing quote (\") "
                  "before the end of the input");
            }
            value += '\n';
            raw += '\n';
            line_start = raw.size();
            line_no = m_source.line_number();
            raw += line;
            i = line_start;
            continue;
          }
          value.append(raw, i, q - i);
          if (q + 1 < raw.size() && raw[q + 1] == k_quote) {
            value += k_quote;
            i = q + 2;
            continue;
          }
          i = q + 1;
          break;
        }
        if (i == raw.size()) {
          return true;
        }
        if (raw[i] == k_sep) {
          ++i;
          continue;
        }
        if (raw[i] == '\r' && i + 1 == raw.size()) {
          raw.pop_back();
          return true;
        }
        return m_source.error_at(line_no, i - line_start + 1,
                                 "unexpected " + describe_byte(raw[i]) +
                                     " after a closing quote: expected a comma "
                                     "or the end of the line");
      }

      size_t start = i;
      const char* p = raw.data();
      size_t size = raw.size();
      while (i < size && p[i] != k_sep) {
        if (p[i] == k_quote) {
          return m_source.error_at(
              line_no, i - line_start + 1,
              "quote (\") inside an unquoted field: expected the whole field in "
              "quotes, with each quote in it doubled (\"\")");
        }
        ++i;
      }
      if (i < size) {
        value.assign(raw, start, i - start);
        ++i;
        continue;
      }
      if (i > start && p[i - 1] == '\r') {
        // The CR of a CRLF line ending.
        raw.pop_back();
        --i;
      }
      value.assign(raw, start, i - start);
      return true;
    }
  }

};

} // namespace

util::Result<std::unique_ptr<Reader>> open_csv_reader(LineSource source) {
  auto reader = std::make_unique<CsvReader>(std::move(source));
  if (auto r = reader->read_header(); !r) {
    return r.error();
  }
  return std::unique_ptr<Reader>(std::move(reader));
}

} // namespace muster::input
