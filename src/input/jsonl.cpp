// JSON Lines: one JSON object per line; blank lines are skipped.

#include "input/formats.hpp"
#include "input/json_text.hpp"

#include <algorithm>

namespace muster::input {

namespace {

bool is_blank(std::string_view line) {
  return line.find_first_not_of(" \t") == std::string_view::npos;
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
    if (auto fault = check_json_bounds(line)) {
      return m_source.error_at(line_no, fault->offset + 1, fault->what);
    }
    Json doc;
    try {
      doc = Json::parse(line.begin(), line.end());
    } catch (const nlohmann::json::parse_error& e) {
      std::string detail = parse_detail(e.what());
      if (detail.find("expected") == std::string::npos) {
        detail += "; expected a JSON object";
      }
      return m_source.error_at(line_no, std::max<size_t>(e.byte, 1),
                               "invalid JSON: " + detail);
    } catch (const nlohmann::json::out_of_range& e) {
      // A number too big for a double: the one other error a parse throws.
      return m_source.error_at(line_no, overflow_offset(line, e.what()) + 1,
                               "invalid JSON: " + parse_detail(e.what()));
    }
    size_t column = line.find_first_not_of(" \t") + 1;
    if (!doc.is_object()) {
      return m_source.error_at(line_no, column,
                               "line holds " + describe_type(doc) +
                                   ": expected a JSON object");
    }

    rec.line = line_no;
    rec.column = column;
    rec.raw.assign(line);
    fill_record(rec, doc);
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
