// A JSON document whose rows are the objects of one array: the document
// itself, or the array at a path of keys. The file's bytes are read at once,
// checked in one pass that builds nothing, and then each row is parsed only
// when it is asked for, so memory holds the text and one row.

#include "input/formats.hpp"
#include "input/json_text.hpp"
#include "util/strings.hpp"

#include <algorithm>

namespace muster::input {

namespace {

// Takes every event and keeps the first error: checks a whole document
// without building it, and without recursing.
class Checker final : public nlohmann::json_sax<Json> {
public:
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return true; }
  bool key(string_t&) override { return true; }
  bool end_object() override { return true; }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::detail::exception& e) override {
    m_position = position;
    m_what = e.what();
    return false;
  }

  size_t m_position = 0; // bytes read when the error was found
  std::string m_what;
};

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

std::string kind_at(char c) {
  switch (c) {
  case '{':
    return "an object";
  case '[':
    return "an array";
  case '"':
    return "a string";
  case 't':
  case 'f':
    return "a boolean";
  case 'n':
    return "null";
  default:
    return "a number";
  }
}

class JsonReader final : public Reader {
public:
  JsonReader(LineSource source, std::vector<std::string> path, std::string path_text)
      : m_source(std::move(source)), m_path(std::move(path)),
        m_path_text(std::move(path_text)) {}

  const std::vector<std::string>& columns() const override { return m_columns; }

  util::Result<bool> next(Record& rec) override {
    if (!m_opened) {
      m_opened = true;
      if (auto r = open(); !r) {
        m_done = true;
        return r.error();
      }
    }
    skip_space();
    if (m_done || m_pos >= m_text.size() || m_text[m_pos] == ']') {
      m_done = true;
      return false;
    }
    const size_t start = m_pos;
    m_pos = value_end(start);
    const std::string_view text = std::string_view(m_text).substr(start, m_pos - start);
    skip_space();
    if (m_pos < m_text.size() && m_text[m_pos] == ',') {
      ++m_pos;
    }
    ++m_index;
    if (text[0] != '{') {
      return error_at(start, "element " + std::to_string(m_index) + " of the array is " +
                                 kind_at(text[0]) + ": expected a JSON object");
    }
    Json row;
    try {
      row = Json::parse(text.begin(), text.end());
    } catch (const nlohmann::json::parse_error& e) {
      // The whole text was checked already; this is only a guard.
      return error_at(start + std::max<size_t>(e.byte, 1) - 1,
                      "invalid JSON: " + parse_detail(e.what()));
    }
    auto [line, column] = position_of(start);
    rec.line = line;
    rec.column = column;
    rec.raw.assign(text);
    fill_record(rec, row);
    return true;
  }

private:
  // Reads and checks the whole text, then finds the array and steps into it.
  util::Result<void> open() {
    std::string_view line;
    for (;;) {
      auto got = m_source.next(line);
      if (!got) {
        return got.error();
      }
      if (!*got) {
        break;
      }
      m_text += line;
      m_text += '\n';
    }
    if (auto fault = check_json_bounds(m_text)) {
      return error_at(fault->offset, fault->what);
    }
    Checker checker;
    if (!Json::sax_parse(m_text, &checker)) {
      size_t at = std::min(std::max<size_t>(checker.m_position, 1) - 1,
                           m_text.empty() ? 0 : m_text.size() - 1);
      if (checker.m_what.find("out_of_range.406") != std::string::npos) {
        // A number too big for a double: its start, not where it ended.
        at = overflow_offset(m_text, checker.m_what);
      }
      std::string detail = parse_detail(checker.m_what);
      if (m_text.find_first_not_of(" \t\r\n") == std::string::npos) {
        detail = "empty input: expected a JSON array of objects";
      }
      return error_at(at, "invalid JSON: " + detail);
    }
    m_pos = 0;
    for (const std::string& key : m_path) {
      if (auto r = enter(key); !r) {
        return r;
      }
    }
    skip_space();
    if (m_text[m_pos] != '[') {
      std::string what = m_path.empty() ? "the document" : "--json-path " + m_path_text;
      std::string hint = m_path.empty() && m_text[m_pos] == '{'
                             ? "; give --json-path to the array inside it, or use "
                               "--format jsonl for one object per line"
                             : "";
      return error_at(m_pos, what + " is " + kind_at(m_text[m_pos]) +
                                 ": expected an array of objects" + hint);
    }
    ++m_pos;
    return {};
  }

  // Moves m_pos to the value of `key` in the object at m_pos.
  util::Result<void> enter(const std::string& key) {
    skip_space();
    const size_t object = m_pos;
    if (m_text[m_pos] != '{') {
      return error_at(m_pos, "--json-path " + m_path_text + ": found " +
                                 kind_at(m_text[m_pos]) + " where key \"" +
                                 util::printable(key) +
                                 "\" should be: expected an object");
    }
    ++m_pos;
    for (;;) {
      skip_space();
      if (m_text[m_pos] == '}') {
        return error_at(object, "--json-path " + m_path_text + ": no key \"" +
                                    util::printable(key) + "\" in this object");
      }
      const size_t key_end = string_end(m_pos);
      const auto name = Json::parse(m_text.begin() + static_cast<ptrdiff_t>(m_pos),
                                    m_text.begin() + static_cast<ptrdiff_t>(key_end));
      m_pos = key_end;
      skip_space();
      ++m_pos; // ':'
      skip_space();
      if (name.get_ref<const std::string&>() == key) {
        return {};
      }
      m_pos = value_end(m_pos);
      skip_space();
      if (m_text[m_pos] == ',') {
        ++m_pos;
      }
    }
  }

  void skip_space() {
    while (m_pos < m_text.size() && is_space(m_text[m_pos])) {
      ++m_pos;
    }
  }

  // The end of the value that starts at `at`, in a text known to be valid.
  size_t value_end(size_t at) const {
    const char first = m_text[at];
    if (first != '{' && first != '[' && first != '"') {
      // A number or a literal: up to the first byte that cannot be in it.
      size_t i = at;
      while (i < m_text.size() && m_text[i] != ',' && m_text[i] != ']' &&
             m_text[i] != '}' && !is_space(m_text[i])) {
        ++i;
      }
      return i;
    }
    size_t depth = 0;
    for (size_t i = at; i < m_text.size(); ++i) {
      const char c = m_text[i];
      if (c == '"') {
        i = string_end(i) - 1;
      } else if (c == '{' || c == '[') {
        ++depth;
      } else if (c == '}' || c == ']') {
        --depth;
      }
      if (depth == 0) {
        return i + 1;
      }
    }
    return m_text.size();
  }

  // The end of the string whose opening quote is at `at`.
  size_t string_end(size_t at) const {
    size_t i = at + 1;
    while (i < m_text.size() && m_text[i] != '"') {
      i += m_text[i] == '\\' ? 2 : 1;
    }
    return std::min(i + 1, m_text.size());
  }

  // The 1-based line and column of a byte offset. Rows come in order, so it
  // counts on from the offset it was asked last.
  std::pair<size_t, size_t> position_of(size_t offset) {
    if (offset < m_mark) {
      m_mark = m_mark_line_start = 0;
      m_mark_line = 1;
    }
    for (; m_mark < offset; ++m_mark) {
      if (m_text[m_mark] == '\n') {
        ++m_mark_line;
        m_mark_line_start = m_mark + 1;
      }
    }
    return {m_mark_line, offset - m_mark_line_start + 1};
  }

  util::Error error_at(size_t offset, std::string_view what) {
    auto [line, column] = position_of(offset);
    return m_source.error_at(line, column, what);
  }

  LineSource m_source;
  std::vector<std::string> m_path;
  std::string m_path_text;
  std::vector<std::string> m_columns; // always empty: each record names its fields
  std::string m_text;
  size_t m_pos = 0;
  size_t m_index = 0; // elements of the array read so far
  size_t m_mark = 0;  // position_of() counted lines up to here
  size_t m_mark_line = 1;
  size_t m_mark_line_start = 0;
  bool m_opened = false;
  bool m_done = false;
};

} // namespace

util::Result<std::unique_ptr<Reader>> open_json_reader(LineSource source,
                                                       std::string_view path) {
  std::vector<std::string> keys;
  for (size_t start = 0; !path.empty() && start <= path.size();) {
    size_t dot = std::min(path.find('.', start), path.size());
    if (dot == start) {
      return util::Error{"--json-path " + util::printable(path) +
                         ": expected keys joined by dots, like data.jobs"};
    }
    keys.emplace_back(path.substr(start, dot - start));
    start = dot + 1;
  }
  return std::unique_ptr<Reader>(std::make_unique<JsonReader>(
      std::move(source), std::move(keys), util::printable(path)));
}

} // namespace muster::input
