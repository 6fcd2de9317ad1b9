#include "store/codec.hpp"

#include "util/strings.hpp"

#include <nlohmann/json.hpp>

namespace muster::store {

using nlohmann::json;

std::string encode_settings(const core::RunSettings& s) {
  json j = {
      {"command", s.command},
      {"shell", s.shell == core::Shell::yes},
      {"slots", s.slots},
      {"max_attempts", s.max_attempts},
      {"backoff_ms", s.backoff.initial_ms},
      {"backoff_max_ms", s.backoff.max_ms},
      {"timeout_ms", s.timeout_ms},
      {"kill_grace_ms", s.kill_grace_ms},
      {"grace_ms", s.grace_ms},
      {"on_interrupt", std::string(core::to_string(s.on_interrupt))},
      {"max_output", s.max_output},
      {"key", s.key},
      {"id_column", s.id_column},
      {"inputs", s.inputs},
  };
  return j.dump();
}

util::Result<core::RunSettings> decode_settings(const std::string& text) {
  try {
    json j = json::parse(text);
    core::RunSettings s;
    s.command = j.at("command").get<std::vector<std::string>>();
    s.shell = j.at("shell").get<bool>() ? core::Shell::yes : core::Shell::no;
    s.slots = j.at("slots").get<int64_t>();
    s.max_attempts = j.at("max_attempts").get<int64_t>();
    s.backoff.initial_ms = j.at("backoff_ms").get<int64_t>();
    s.backoff.max_ms = j.at("backoff_max_ms").get<int64_t>();
    s.timeout_ms = j.at("timeout_ms").get<int64_t>();
    s.kill_grace_ms = j.at("kill_grace_ms").get<int64_t>();
    s.grace_ms = j.at("grace_ms").get<int64_t>();
    s.on_interrupt =
        core::parse_on_interrupt(j.at("on_interrupt").get<std::string>()).value_or(
            core::OnInterrupt::requeue);
    s.max_output = j.at("max_output").get<uint64_t>();
    s.key = j.value("key", "");
    s.id_column = j.value("id_column", "");
    s.inputs = j.value("inputs", std::vector<std::string>{});
    return s;
  } catch (const json::exception& e) {
    return util::Error{std::string("run settings in the store are unreadable: ") + e.what()};
  }
}

std::string encode_strings(const std::vector<std::string>& values) {
  return encode_fields(nullptr, values);
}

util::Result<std::vector<std::string>> decode_strings(const std::string& text) {
  std::vector<std::string> names;
  std::vector<std::string> values;
  if (auto r = decode_fields(text, names, values); !r) {
    return r.error();
  }
  return values;
}

std::string encode_fields(const std::vector<std::string>* names,
                          const std::vector<std::string>& values) {
  std::string out;
  out.reserve(16 + values.size() * 16);
  const bool object = names && !names->empty();
  out += object ? '{' : '[';
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) {
      out += ',';
    }
    if (object) {
      util::append_json_string(out, i < names->size() ? (*names)[i] : std::string_view());
      out += ':';
    }
    util::append_json_string(out, values[i]);
  }
  out += object ? '}' : ']';
  return out;
}

util::Result<void> decode_fields(const std::string& text, std::vector<std::string>& names,
                                 std::vector<std::string>& values) {
  names.clear();
  values.clear();
  try {
    // Order matters ({1} is the first key), so keep the document's order.
    auto j = nlohmann::ordered_json::parse(text);
    if (j.is_array()) {
      for (auto& v : j) {
        values.push_back(v.get<std::string>());
      }
    } else {
      for (auto& [k, v] : j.items()) {
        names.push_back(k);
        values.push_back(v.get<std::string>());
      }
    }
    return {};
  } catch (const nlohmann::json::exception& e) {
    return util::Error{std::string("job fields in the store are unreadable: ") + e.what()};
  }
}

} // namespace muster::store
