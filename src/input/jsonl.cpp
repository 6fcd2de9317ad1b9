// JSON Lines: one JSON object per line; blank lines are skipped.

#include "input/formats.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace muster::input {

namespace {

using Json = nlohmann::ordered_json;

bool is_blank(std::string_view line) {
  return line.find_first_not_of(" \t") == std::string_view::npos;
}

// nlohmann's message without its "[json.exception...] parse error at line 1,
// column N: " prefix, which would repeat the location.
std::string parse_detail(const nlohmann::json::parse_error& e) {
  std::string_view what = e.what();
  size_t at = what.find("column ");
  if (at != std::string_view::npos) {
    size_t colon = what.find(": ", at);
    if (colon != std::string_view::npos) {
      what.remove_prefix(colon + 2);
    }
  }
  return std::string(what);
}

std::string describe_type(const Json& doc) {
  switch (doc.type()) {
  case Json::value_t::array:
    return "an array";
  case Json::value_t::string:
    return "a string";
  case Json::value_t::boolean:
    return "a boolean";
  case Json::value_t::null:
    return "null";
  case Json::value_t::number_integer:
  case Json::value_t::number_unsigned:
  case Json::value_t::number_float:
    return "a number";
  case Json::value_t::binary:
    return "binary data";
  case Json::value_t::object:
    return "an object";
  case Json::value_t::discarded:
    return "nothing";
  }
  return "something else";
}

void set_value(std::string& out, const Json& value) {
  if (value.is_string()) {
    out = value.get_ref<const std::string&>();
  } else if (value.is_null()) {
    out.clear();
  } else {
    out = value.dump();
  }
}

class JsonlReader final : public Reader {
public:
  explicit JsonlReader(LineSource source) : m_source(std::move(source)) {}

  const std::vector<std::string>& columns() const override { return m_columns; }

  util::Result<bool> next(Record& rec) override {
    std::string_view line;
    do {
      auto got = m_source.next(line);
      if (!got || !*got) {
        return got;
      }
      line = strip_cr(line);
    } while (is_blank(line));

    size_t line_no = m_source.line_number();
    Json doc;
    try {
      doc = Json::parse(line.begin(), line.end());
    } catch (const nlohmann::json::parse_error& e) {
      std::string detail = parse_detail(e);
      if (detail.find("expected") == std::string::npos) {
        detail += "; expected a JSON object";
      }
      return m_source.error_at(line_no, std::max<size_t>(e.byte, 1),
                               "invalid JSON: " + detail);
    }
    if (!doc.is_object()) {
      size_t column = line.find_first_not_of(" \t") + 1;
      return m_source.error_at(line_no, column,
                               "line holds " + describe_type(doc) +
                                   ": expected a JSON object");
    }

    rec.line = line_no;
    rec.raw.assign(line);
    rec.names.resize(doc.size());
    rec.values.resize(doc.size());
    size_t i = 0;
    for (const auto& [key, value] : doc.items()) {
      rec.names[i] = key;
      set_value(rec.values[i], value);
      ++i;
    }
    return true;
  }

private:
  LineSource m_source;
  std::vector<std::string> m_columns; // always empty: each record names its fields
};

} // namespace

std::unique_ptr<Reader> make_jsonl_reader(LineSource source) {
  return std::make_unique<JsonlReader>(std::move(source));
}

} // namespace muster::input
