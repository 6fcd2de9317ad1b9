#include "store/codec.hpp"

#include "store/store.hpp"
#include "util/strings.hpp"

#include <nlohmann/json.hpp>

namespace muster::store {

using nlohmann::json;

std::string encode_settings(const core::RunSettings& s) {
  json j = {
      {"command", s.command},
      {"shell", s.shell == core::Shell::yes},
      {"pty", s.pty},
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
  json ports = json::array();
  for (const auto& p : s.ports) {
    ports.push_back(
        {{"name", p.name}, {"base", p.base}, {"stride", p.stride}, {"count", p.count}});
  }
  j["ports"] = ports;
  j["slot"] = {{"dir", s.slot.dir},
               {"dir_from", s.slot.dir_from},
               {"dir_exclude", s.slot.dir_exclude},
               {"dir_keep", s.slot.dir_keep},
               {"setup", s.slot.setup},
               {"teardown", s.slot.teardown},
               {"before_job", s.slot.before_job},
               {"after_job", s.slot.after_job},
               {"stagger_ms", s.slot.stagger_ms},
               {"sidecar", s.slot.sidecar},
               {"ready", s.slot.ready},
               {"ready_timeout_ms", s.slot.ready_timeout_ms},
               {"max_restarts", s.slot.max_restarts}};
  json rules = json::array();
  for (const auto& r : s.rules) {
    rules.push_back({{"match", r.match},
                     {"exit_codes", r.exit_codes},
                     {"action", std::string(core::to_string(r.action))},
                     {"cooldown_ms", r.cooldown_ms},
                     {"max_halts", r.max_halts},
                     {"block_key", r.block_key},
                     {"error_type", r.error_type},
                     {"retry_after_ms", r.retry_after_ms},
                     {"where", r.where}});
  }
  j["rules"] = rules;
  j["halt_mode"] = std::string(core::to_string(s.halt_mode));
  const auto& l = s.limits;
  j["limits"] = {{"per_key", l.per_key},
                 {"per_key_daily", l.per_key_daily},
                 {"day_start_min", l.day_start_min},
                 {"timezone", l.timezone},
                 {"count", std::string(core::to_string(l.count))},
                 {"scope", std::string(core::to_string(l.scope))},
                 {"rate_interval_us", l.rate_interval_us},
                 {"rate", l.rate}};
  j["priority"] = s.priority;
  j["locks"] = s.locks;
  j["job_locks"] = s.job_locks;
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

util::Result<core::RunSettings> decode_settings(const std::string& text) {
  try {
    json j = json::parse(text);
    core::RunSettings s;
    s.command = j.at("command").get<std::vector<std::string>>();
    s.shell = j.at("shell").get<bool>() ? core::Shell::yes : core::Shell::no;
    s.pty = j.value("pty", false);
    s.slots = j.at("slots").get<int64_t>();
    s.max_attempts = j.at("max_attempts").get<int64_t>();
    s.backoff.initial_ms = j.at("backoff_ms").get<int64_t>();
    s.backoff.max_ms = j.at("backoff_max_ms").get<int64_t>();
    s.timeout_ms = j.at("timeout_ms").get<int64_t>();
    s.kill_grace_ms = j.at("kill_grace_ms").get<int64_t>();
    s.grace_ms = j.at("grace_ms").get<int64_t>();
    s.on_interrupt = core::parse_on_interrupt(j.at("on_interrupt").get<std::string>())
                         .value_or(core::OnInterrupt::requeue);
    s.max_output = j.at("max_output").get<uint64_t>();
    s.key = j.value("key", "");
    s.id_column = j.value("id_column", "");
    s.inputs = j.value("inputs", std::vector<std::string>{});
    if (j.contains("slot")) {
      const auto& sl = j.at("slot");
      s.slot.dir = sl.value("dir", false);
      s.slot.dir_from = sl.value("dir_from", "");
      s.slot.dir_exclude = sl.value("dir_exclude", std::vector<std::string>{});
      s.slot.dir_keep = sl.value("dir_keep", false);
      s.slot.setup = sl.value("setup", "");
      s.slot.teardown = sl.value("teardown", "");
      s.slot.before_job = sl.value("before_job", "");
      s.slot.after_job = sl.value("after_job", "");
      s.slot.stagger_ms = sl.value("stagger_ms", int64_t{0});
      s.slot.sidecar = sl.value("sidecar", std::vector<std::string>{});
      s.slot.ready = sl.value("ready", "");
      s.slot.ready_timeout_ms = sl.value("ready_timeout_ms", int64_t{30'000});
      s.slot.max_restarts = sl.value("max_restarts", int64_t{3});
    }
    if (j.contains("ports")) {
      for (const auto& p : j.at("ports")) {
        s.ports.push_back(core::PortSpec{
            p.at("name").get<std::string>(), p.at("base").get<int64_t>(),
            p.at("stride").get<int64_t>(), p.at("count").get<int64_t>(), ""});
      }
    }
    for (const auto& r : j.value("rules", json::array())) {
      core::Rule rule;
      rule.match = r.value("match", "");
      rule.exit_codes = r.value("exit_codes", std::vector<int>{});
      rule.action =
          core::parse_action(r.value("action", "retry")).value_or(core::Action::retry);
      rule.cooldown_ms = r.value("cooldown_ms", rule.cooldown_ms);
      rule.max_halts = r.value("max_halts", rule.max_halts);
      rule.block_key = r.value("block_key", false);
      rule.error_type = r.value("error_type", "");
      rule.retry_after_ms = r.value("retry_after_ms", int64_t{-1});
      rule.where = r.value("where", "");
      s.rules.push_back(std::move(rule));
    }
    s.halt_mode = core::parse_halt_mode(j.value("halt_mode", "drain"))
                      .value_or(core::HaltMode::drain);
    if (j.contains("limits")) {
      const auto& l = j.at("limits");
      s.limits.per_key = l.value("per_key", int64_t{0});
      s.limits.per_key_daily = l.value("per_key_daily", int64_t{0});
      s.limits.day_start_min = l.value("day_start_min", int64_t{0});
      s.limits.timezone = l.value("timezone", "");
      s.limits.count = core::parse_cap_count(l.value("count", "attempts"))
                           .value_or(core::CapCount::attempts);
      s.limits.scope = core::parse_limit_scope(l.value("scope", "run"))
                           .value_or(core::LimitScope::run);
      s.limits.rate_interval_us = l.value("rate_interval_us", int64_t{0});
      s.limits.rate = l.value("rate", "");
    }
    s.priority = j.value("priority", "");
    s.locks = j.value("locks", std::vector<std::string>{});
    if (j.contains("job_locks")) {
      s.job_locks = j["job_locks"].get<std::vector<std::string>>();
    } else if (const std::string one = j.value("job_lock", ""); !one.empty()) {
      s.job_locks = {one}; // a run made before jobs could hold several locks
    }
    return s;
  } catch (const json::exception& e) {
    return util::Error{std::string("run settings in the store are unreadable: ") +
                       e.what()};
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

namespace {

// Reads one JSON string literal at text[i] (i at the quote); the inverse of
// util::append_json_string. Bytes pass through untouched, so input that is not
// valid UTF-8 still reaches the job as it was written.
bool read_string(const std::string& text, size_t& i, std::string& out) {
  out.clear();
  if (i >= text.size() || text[i] != '"') {
    return false;
  }
  for (++i; i < text.size(); ++i) {
    char c = text[i];
    if (c == '"') {
      ++i;
      return true;
    }
    if (c != '\\') {
      out += c;
      continue;
    }
    if (++i >= text.size()) {
      return false;
    }
    switch (text[i]) {
    case 'n':
      out += '\n';
      break;
    case 'r':
      out += '\r';
      break;
    case 't':
      out += '\t';
      break;
    case 'b':
      out += '\b';
      break;
    case 'f':
      out += '\f';
      break;
    case 'u': {
      if (i + 4 >= text.size()) {
        return false;
      }
      unsigned cp = static_cast<unsigned>(std::stoul(text.substr(i + 1, 4), nullptr, 16));
      i += 4;
      if (cp < 0x80) {
        out += static_cast<char>(cp);
      } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
      } else {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
      }
      break;
    }
    default:
      out += text[i]; // \" \\ \/
    }
  }
  return false;
}

} // namespace

util::Result<void> decode_fields(const std::string& text, std::vector<std::string>& names,
                                 std::vector<std::string>& values) {
  names.clear();
  values.clear();
  auto bad = [&] {
    return util::Error{"job fields in the store are unreadable: " + text.substr(0, 80)};
  };
  if (text.size() < 2 || (text[0] != '[' && text[0] != '{')) {
    return bad();
  }
  const bool object = text[0] == '{';
  const char close = object ? '}' : ']';
  size_t i = 1;
  std::string s;
  if (text[i] == close) {
    return {};
  }
  for (;;) {
    if (object) {
      if (!read_string(text, i, s) || i >= text.size() || text[i] != ':') {
        return bad();
      }
      names.push_back(s);
      ++i;
    }
    if (!read_string(text, i, s)) {
      return bad();
    }
    values.push_back(s);
    if (i < text.size() && text[i] == ',') {
      ++i;
      continue;
    }
    if (i + 1 == text.size() && text[i] == close) {
      return {};
    }
    return bad();
  }
}

namespace {

constexpr std::string_view k_agent_states[] = {"running", "stopped", "offline"};
constexpr std::string_view k_control_requests[] = {"", "pause", "pause-stop", "cancel"};
constexpr std::string_view k_slot_activities[] = {"idle",       "busy",   "starting",
                                                  "restarting", "failed", "retired"};
constexpr std::string_view k_sidecar_states[] = {"none",       "starting", "ready",
                                                 "restarting", "failed",   "stopped"};

} // namespace

std::string_view to_string(AgentState state) {
  return k_agent_states[static_cast<size_t>(state)];
}

std::optional<AgentState> parse_agent_state(std::string_view text) {
  return util::parse_word<AgentState>(k_agent_states, text);
}

std::string_view to_string(ControlRequest request) {
  return k_control_requests[static_cast<size_t>(request)];
}

std::optional<ControlRequest> parse_control_request(std::string_view text) {
  return util::parse_word<ControlRequest>(k_control_requests, text);
}

std::string_view to_string(SlotActivity activity) {
  return k_slot_activities[static_cast<size_t>(activity)];
}

std::optional<SlotActivity> parse_slot_activity(std::string_view text) {
  return util::parse_word<SlotActivity>(k_slot_activities, text);
}

std::string_view to_string(SidecarState state) {
  return k_sidecar_states[static_cast<size_t>(state)];
}

std::optional<SidecarState> parse_sidecar_state(std::string_view text) {
  return util::parse_word<SidecarState>(k_sidecar_states, text);
}

std::string encode_slot_reports(const std::vector<SlotReport>& slots) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const auto& s : slots) {
    nlohmann::ordered_json j = {{"slot", s.slot}, {"state", to_string(s.activity)}};
    if (!s.job.empty()) {
      j["job"] = s.job;
      j["since"] = s.since;
    }
    j["sidecar"] = to_string(s.sidecar);
    if (!s.held.empty()) {
      j["held"] = s.held;
    }
    out.push_back(std::move(j));
  }
  return out.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::vector<SlotReport> decode_slot_reports(const std::string& json) {
  std::vector<SlotReport> out;
  const auto j = nlohmann::json::parse(json, nullptr, false);
  if (!j.is_array()) {
    return out;
  }
  for (const auto& e : j) {
    if (!e.is_object()) {
      continue;
    }
    const auto number = [&](const char* key, int64_t otherwise) {
      const auto it = e.find(key);
      return it != e.end() && it->is_number_integer() ? it->get<int64_t>() : otherwise;
    };
    const auto text = [&](const char* key) {
      const auto it = e.find(key);
      return it != e.end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    SlotReport r;
    r.slot = number("slot", -1);
    r.activity = parse_slot_activity(text("state")).value_or(SlotActivity::idle);
    r.job = text("job");
    r.since = number("since", 0);
    r.sidecar = parse_sidecar_state(text("sidecar")).value_or(SidecarState::none);
    r.held = text("held");
    out.push_back(std::move(r));
  }
  return out;
}

} // namespace muster::store
