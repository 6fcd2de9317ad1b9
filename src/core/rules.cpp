#include "core/rules.hpp"

#include "util/strings.hpp"
#include "util/time.hpp"

#include <array>
#include <nlohmann/json.hpp>
#include <re2/re2.h>

namespace muster::core {

namespace {

constexpr std::string_view k_actions[] = {"none", "succeed", "retry", "fail", "halt"};

// Renders a rule's error_type: "{match}" becomes the matched text.
std::string render_error_type(const std::string& tmpl, std::string_view matched) {
  std::string out;
  size_t i = 0;
  while (i < tmpl.size()) {
    if (tmpl.compare(i, 7, "{match}") == 0) {
      out += matched;
      i += 7;
    } else {
      out += tmpl[i++];
    }
  }
  return out;
}

util::Result<int64_t> duration_field(const nlohmann::json& j, const char* name) {
  const auto& v = j.at(name);
  if (v.is_number()) {
    const double seconds = v.get<double>();
    if (seconds < 0) {
      return util::Error{std::string(name) + ": expected a duration of at least 0"};
    }
    return static_cast<int64_t>(seconds * 1000.0);
  }
  if (v.is_string()) {
    auto ms = util::parse_duration_ms(v.get<std::string>());
    if (!ms) {
      return util::Error{std::string(name) + ": " + ms.error().message};
    }
    return *ms;
  }
  return util::Error{std::string(name) +
                     ": expected a duration such as \"30s\", or seconds"};
}

} // namespace

std::string_view to_string(Action action) {
  return k_actions[static_cast<size_t>(action)];
}

std::optional<Action> parse_action(std::string_view text) {
  for (size_t i = 1; i < std::size(k_actions); ++i) {
    if (k_actions[i] == text) {
      return static_cast<Action>(i);
    }
  }
  return std::nullopt;
}

constexpr std::array<std::string_view, 2> k_halt_modes = {"drain", "stop"};

std::string_view to_string(HaltMode mode) {
  return k_halt_modes[static_cast<size_t>(mode)];
}

std::optional<HaltMode> parse_halt_mode(std::string_view text) {
  return util::parse_word<HaltMode>(k_halt_modes, text);
}

RuleSet::RuleSet() = default;
RuleSet::~RuleSet() = default;
RuleSet::RuleSet(RuleSet&&) noexcept = default;
RuleSet& RuleSet::operator=(RuleSet&&) noexcept = default;

util::Result<RuleSet> RuleSet::compile(const std::vector<Rule>& rules) {
  RuleSet set;
  for (size_t i = 0; i < rules.size(); ++i) {
    Compiled c;
    c.rule = rules[i];
    if (!c.rule.match.empty()) {
      RE2::Options options;
      options.set_log_errors(false);
      c.re = std::make_unique<RE2>(c.rule.match, options);
      if (!c.re->ok()) {
        const std::string at =
            c.rule.where.empty() ? "rule " + std::to_string(i + 1) : c.rule.where;
        return util::Error{at + ": match: bad pattern '" + c.rule.match +
                           "': " + c.re->error()};
      }
    }
    set.m_rules.push_back(std::move(c));
  }
  return set;
}

bool RuleSet::needs_output() const {
  for (const auto& c : m_rules) {
    if (c.re) {
      return true;
    }
  }
  return false;
}

Decision RuleSet::classify(const Outcome& outcome, std::string_view output) const {
  Decision d;
  if (stopped_by_muster(outcome.type) || outcome.type == ErrorType::spawn ||
      outcome.type == ErrorType::output) {
    return d; // the rules are not asked: the output they would read is cut
  }
  for (size_t i = 0; i < m_rules.size(); ++i) {
    const auto& c = m_rules[i];
    if (!c.rule.exit_codes.empty()) {
      const bool exited =
          outcome.type == ErrorType::none || outcome.type == ErrorType::exit_code;
      bool hit = false;
      for (int code : c.rule.exit_codes) {
        hit = hit || (exited && code == outcome.exit_code);
      }
      if (!hit) {
        continue;
      }
    }
    std::string_view matched;
    if (c.re) {
      re2::StringPiece whole;
      if (!c.re->Match(output, 0, output.size(), RE2::UNANCHORED, &whole, 1)) {
        continue;
      }
      matched = std::string_view(whole.data(), whole.size());
    }
    d.action = c.rule.action;
    d.error_type = render_error_type(c.rule.error_type, matched);
    d.block_key = c.rule.block_key;
    d.cooldown_ms = c.rule.cooldown_ms;
    d.max_halts = c.rule.max_halts;
    d.retry_after_ms = c.rule.retry_after_ms;
    d.source = "rule " + std::to_string(i + 1) +
               (c.rule.where.empty() ? "" : " (" + c.rule.where + ")");
    if (!matched.empty()) {
      d.message = "matched '" + std::string(matched.substr(0, 200)) + "'";
    }
    return d;
  }
  return d;
}

util::Result<Decision> parse_result_file(std::string_view text) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    return util::Error{std::string("not JSON: ") + e.what()};
  }
  if (!j.is_object()) {
    return util::Error{"expected a JSON object such as {\"outcome\": \"retry\"}"};
  }
  Decision d;
  d.source = "result file";
  if (!j.contains("outcome") || !j["outcome"].is_string()) {
    return util::Error{"\"outcome\": expected one of succeed, retry, fail, halt"};
  }
  auto action = parse_action(j["outcome"].get<std::string>());
  if (!action) {
    return util::Error{"\"outcome\": expected one of succeed, retry, fail, halt, not \"" +
                       j["outcome"].get<std::string>() + "\""};
  }
  d.action = *action;
  for (const char* name : {"error_type", "message"}) {
    if (j.contains(name)) {
      if (!j[name].is_string()) {
        return util::Error{std::string("\"") + name + "\": expected a string"};
      }
      (std::string_view(name) == "message" ? d.message : d.error_type) =
          j[name].get<std::string>();
    }
  }
  if (j.contains("retry_after")) {
    auto ms = duration_field(j, "retry_after");
    if (!ms) {
      return ms.error();
    }
    d.retry_after_ms = *ms;
  }
  d.cooldown_ms = 15 * 60'000;
  if (j.contains("cooldown")) {
    auto ms = duration_field(j, "cooldown");
    if (!ms) {
      return ms.error();
    }
    d.cooldown_ms = *ms;
  }
  if (j.contains("block_key")) {
    if (!j["block_key"].is_boolean()) {
      return util::Error{"\"block_key\": expected true or false"};
    }
    d.block_key = j["block_key"].get<bool>();
  }
  return d;
}

JobState state_after(const Outcome& outcome, const Decision& decision, int64_t attempts,
                     int64_t max_attempts) {
  switch (decision.action) {
  case Action::none:
    return state_after(outcome, attempts, max_attempts);
  case Action::succeed:
    return JobState::succeeded;
  case Action::retry:
    return attempts < max_attempts ? JobState::retrying : JobState::failed;
  case Action::fail:
    return JobState::failed;
  case Action::halt:
    return JobState::pending;
  }
  return JobState::failed;
}

} // namespace muster::core
