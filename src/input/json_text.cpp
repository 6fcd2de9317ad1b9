#include "input/json_text.hpp"

#include "util/strings.hpp"

namespace muster::input {

std::optional<JsonFault> check_json_bounds(std::string_view text) {
  size_t depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '"') {
        in_string = false;
      } else if (c == '\\') {
        if (text.substr(i + 1, 5) == "u0000") {
          return JsonFault{i, "\\u0000 (NUL) in a string: expected text, since no "
                              "argument of a job can hold a NUL"};
        }
        ++i; // the escaped character, which may be a quote
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > k_max_json_depth) {
        return JsonFault{i, "arrays and objects nested deeper than " +
                                std::to_string(k_max_json_depth) +
                                " levels: expected at most " +
                                std::to_string(k_max_json_depth)};
      }
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return std::nullopt;
}

std::string parse_detail(std::string_view what) {
  size_t at = what.find("column ");
  if (at != std::string_view::npos) {
    size_t colon = what.find(": ", at);
    if (colon != std::string_view::npos) {
      what.remove_prefix(colon + 2);
    }
  } else if (what.starts_with("[json.exception.")) {
    // "[json.exception.out_of_range.406] number overflow parsing '1e999'"
    if (const size_t end = what.find("] "); end != std::string_view::npos) {
      what.remove_prefix(end + 2);
    }
  }
  std::string detail = util::printable(what);
  if (detail.starts_with("number overflow")) {
    detail += ": expected a number no bigger than about 1.8e308";
  }
  return detail;
}

size_t overflow_offset(std::string_view text, std::string_view what) {
  const size_t open = what.find('\'');
  const size_t close = what.rfind('\'');
  if (open == std::string_view::npos || close <= open + 1) {
    return 0;
  }
  const size_t at = text.find(what.substr(open + 1, close - open - 1));
  return at == std::string_view::npos ? 0 : at;
}

std::string describe_type(const Json& value) {
  switch (value.type()) {
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

void fill_record(Record& rec, const Json& object) {
  rec.names.resize(object.size());
  rec.values.resize(object.size());
  size_t i = 0;
  for (const auto& [key, value] : object.items()) {
    rec.names[i] = key;
    std::string& out = rec.values[i];
    if (value.is_string()) {
      out = value.get_ref<const std::string&>();
    } else if (value.is_null()) {
      out.clear();
    } else {
      out = value.dump();
    }
    ++i;
  }
}

} // namespace muster::input
