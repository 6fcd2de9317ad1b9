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

class TsvReader final : public TableReader {
public:
  explicit TsvReader(LineSource source) : TableReader(std::move(source)) {}

private:
  // Reads one non-empty line into rec.raw, rec.line and the first m_count
  // entries of rec.values; false at the end of the input.
  util::Result<bool> read_record(Record& rec, std::vector<FieldPos>* where) override {
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
      decode_into(field_slot(rec, m_count++), line.substr(start, end - start));
      if (where != nullptr) {
        where->push_back({rec.line, start + 1});
      }
      if (tab == std::string_view::npos) {
        return true;
      }
      start = tab + 1;
    }
  }

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
