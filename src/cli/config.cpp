#include "cli/config.hpp"

#include "cli/config_read.hpp"
#include "core/limits.hpp"
#include "core/rules.hpp"
#include "util/time.hpp"
#include "util/timezone.hpp"

#include <sys/stat.h>
#include <toml++/toml.h>
#include <type_traits>
#include <variant>

namespace muster::cli {

namespace config_read {

std::string where(const std::string& file, const toml::node& node,
                  const std::string& key) {
  return file + ":" + std::to_string(node.source().begin.line) + ": " + key;
}

util::Error bad(const std::string& file, const toml::node& node, const std::string& key,
                const std::string& expected) {
  return util::Error{where(file, node, key) + ": expected " + expected};
}

util::Result<std::string> as_string(const std::string& file, const toml::node& node,
                                    const std::string& key) {
  if (auto v = node.value<std::string>()) {
    return *v;
  }
  return bad(file, node, key, "a string");
}

util::Result<int64_t> as_int(const std::string& file, const toml::node& node,
                             const std::string& key, int64_t min) {
  auto v = node.value<int64_t>();
  if (!v || !node.is_integer()) {
    return bad(file, node, key, "a whole number");
  }
  if (*v < min) {
    return bad(file, node, key, "a number of at least " + std::to_string(min));
  }
  return *v;
}

util::Result<std::vector<std::string>>
as_strings(const std::string& file, const toml::node& node, const std::string& key) {
  std::vector<std::string> out;
  if (auto s = node.value<std::string>()) {
    out.push_back(*s);
    return out;
  }
  const toml::array* arr = node.as_array();
  if (!arr) {
    return bad(file, node, key, "a string or an array of strings");
  }
  for (const auto& item : *arr) {
    auto s = item.value<std::string>();
    if (!s) {
      return bad(file, item, key, "an array of strings");
    }
    out.push_back(*s);
  }
  return out;
}

util::Result<int64_t> as_duration(const std::string& file, const toml::node& node,
                                  const std::string& key) {
  auto v = as_string(file, node, key);
  if (!v) {
    return v.error();
  }
  auto ms = util::parse_duration_ms(*v);
  if (!ms) {
    return util::Error{where(file, node, key) + ": " + ms.error().message};
  }
  return *ms;
}

/// "a, b and c".
std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    out += (i == 0 ? "" : i + 1 == names.size() ? " and " : ", ") + names[i];
  }
  return out;
}

} // namespace config_read

namespace {

using namespace config_read;

util::Result<void> read_rules(const std::string& file, const toml::node& node,
                              std::vector<core::Rule>& out) {
  const toml::array* arr = node.as_array();
  if (!arr) {
    return bad(file, node, "rules", "an array of tables ([[rules]])");
  }
  for (size_t i = 0; i < arr->size(); ++i) {
    const toml::node& item = *arr->get(i);
    const std::string key = "rules[" + std::to_string(i + 1) + "]";
    const toml::table* t = item.as_table();
    if (!t) {
      return bad(file, item, key, "a table with match or exit_codes, and action");
    }
    core::Rule rule;
    rule.where = file + ":" + std::to_string(item.source().begin.line);
    bool has_action = false;
    bool has_cooldown = false;
    bool has_retry_after = false;
    for (const auto& [k, v] : *t) {
      const std::string field(k.str());
      const std::string fkey = key + "." + field;
      if (field == "match") {
        auto m = as_string(file, v, fkey);
        if (!m) {
          return m.error();
        }
        rule.match = *m;
        rule.where = file + ":" + std::to_string(v.source().begin.line);
      } else if (field == "exit_codes") {
        const toml::array* codes = v.as_array();
        if (!codes) {
          return bad(file, v, fkey, "an array of exit codes, such as [75]");
        }
        for (const auto& c : *codes) {
          auto code = c.value<int64_t>();
          if (!code || !c.is_integer() || *code < 0 || *code > 255) {
            return bad(file, c, fkey, "exit codes from 0 to 255");
          }
          rule.exit_codes.push_back(static_cast<int>(*code));
        }
      } else if (field == "action") {
        auto a = as_string(file, v, fkey);
        if (!a) {
          return a.error();
        }
        auto action = core::parse_action(*a);
        if (!action) {
          return bad(file, v, fkey, "\"succeed\", \"retry\", \"fail\" or \"halt\"");
        }
        rule.action = *action;
        has_action = true;
      } else if (field == "cooldown") {
        auto ms = as_duration(file, v, fkey);
        if (!ms) {
          return ms.error();
        }
        rule.cooldown_ms = *ms;
        has_cooldown = true;
      } else if (field == "max_halts") {
        auto n = v.value<int64_t>();
        if (!n || !v.is_integer() || *n < 1) {
          return bad(file, v, fkey, "a whole number of halts, 1 or more");
        }
        rule.max_halts = *n;
        has_cooldown = true; // a halt's setting, as cooldown is
      } else if (field == "retry_after") {
        auto ms = as_duration(file, v, fkey);
        if (!ms) {
          return ms.error();
        }
        rule.retry_after_ms = *ms;
        has_retry_after = true;
      } else if (field == "block_key") {
        auto b = v.value<bool>();
        if (!b || !v.is_boolean()) {
          return bad(file, v, fkey, "true or false");
        }
        rule.block_key = *b;
      } else if (field == "error_type") {
        auto e = as_string(file, v, fkey);
        if (!e) {
          return e.error();
        }
        rule.error_type = *e;
      } else {
        return util::Error{
            where(file, v, fkey) +
            ": unknown key; a rule has match, exit_codes, action, cooldown, "
            "max_halts, retry_after, block_key and error_type"};
      }
    }
    if (!has_action) {
      return bad(file, item, key + ".action", "an action: succeed, retry, fail or halt");
    }
    if (rule.match.empty() && rule.exit_codes.empty()) {
      return bad(file, item, key,
                 "match, exit_codes or both (a rule that matches everything "
                 "is the default)");
    }
    if (rule.block_key && rule.action != core::Action::fail) {
      return bad(file, item, key + ".block_key", "block_key only with action = \"fail\"");
    }
    if (has_cooldown && rule.action != core::Action::halt) {
      return bad(file, item, key + ".cooldown",
                 "cooldown and max_halts only with action = \"halt\"");
    }
    if (has_retry_after && rule.action != core::Action::retry) {
      return bad(file, item, key + ".retry_after",
                 "retry_after only with action = \"retry\"");
    }
    out.push_back(std::move(rule));
  }
  // A bad pattern is found here, with its line, before anything runs.
  if (auto compiled = core::RuleSet::compile(out); !compiled) {
    return compiled.error();
  }
  return {};
}

util::Result<void> read_rules_key(const std::string& file, const toml::node& node,
                                  const std::string& key, RunOptions& o) {
  o.rules.clear();
  return read_rules(file, node, o.rules);
}

// The command given on the command line wins over the file's.
util::Result<void> read_command(const std::string& file, const toml::node& node,
                                const std::string& key, RunOptions& o) {
  auto v = as_strings(file, node, key);
  if (!v) {
    return v.error();
  }
  if (o.command_words.empty()) {
    o.command_words = *v;
  }
  return {};
}

// Checks of a value once it is in place: the error says what was expected,
// or why the value is wrong.
util::Result<void> check_on_interrupt(const std::string& v) {
  if (v != "requeue" && v != "hold") {
    return util::Error{"expected \"requeue\" or \"hold\""};
  }
  return {};
}

util::Result<void> check_max_output(const std::string& v) {
  if (!util::parse_bytes(v)) {
    return util::Error{"expected a size such as \"1M\""};
  }
  return {};
}

util::Result<void> check_halt_mode(const std::string& v) {
  if (!core::parse_halt_mode(v)) {
    return util::Error{"expected \"drain\" or \"stop\""};
  }
  return {};
}

util::Result<void> check_count(const std::string& v) {
  if (!core::parse_cap_count(v)) {
    return util::Error{"expected \"attempts\" or \"successes\""};
  }
  return {};
}

util::Result<void> check_limit_scope(const std::string& v) {
  if (!core::parse_limit_scope(v)) {
    return util::Error{"expected \"run\" or \"store\""};
  }
  return {};
}

util::Result<void> check_day_starts(const std::string& v) {
  if (auto t = core::parse_time_of_day(v); !t) {
    return t.error();
  }
  return {};
}

util::Result<void> check_timezone(const std::string& v) {
  if (auto zone = util::TimeZone::load(v); !zone) {
    return zone.error();
  }
  return {};
}

util::Result<void> check_rate(const std::string& v) {
  if (auto t = core::parse_rate(v); !t) {
    return t.error();
  }
  return {};
}

/// Reads a key whose value is more than one value.
using ConfigReader = util::Result<void> (*)(const std::string& file,
                                            const toml::node& node,
                                            const std::string& key, RunOptions& o);
/// Where a key's value goes in RunOptions, or the reader that puts it there.
using ConfigTarget =
    std::variant<int64_t RunOptions::*, bool RunOptions::*, std::string RunOptions::*,
                 std::vector<std::string> RunOptions::*, ConfigReader>;

/// Whether a key is named in the list of keys (an alias is not).
enum class Listed { yes, no };

/// One key of muster.toml.
struct ConfigKey {
  const char* name; ///< as written in the file
  ConfigType type;
  ConfigTarget target;
  const char* flag; ///< the flag that wins over the file ("" for none)
  const char* help;
  int64_t min = 1;                                           ///< the least whole number
  util::Result<void> (*check)(const std::string&) = nullptr; ///< a text's value, in place
  Listed listed = Listed::yes;
};

// In the order the unknown-key error lists them.
const ConfigKey k_config_key_table[] = {
    {"jobs", ConfigType::whole, &RunOptions::slots, "--jobs", "slots (parallel jobs)"},
    {"input", ConfigType::texts, &RunOptions::inputs, "--input", "input files"},
    {"format", ConfigType::text, &RunOptions::format, "--format",
     "csv, tsv, jsonl, json or lines"},
    {"json_path", ConfigType::text, &RunOptions::json_path, "--json-path",
     "the array of rows in a JSON input, e.g. data.jobs"},
    {"id_column", ConfigType::text, &RunOptions::id_column, "--id-column",
     "the field that is each job's id"},
    {"key", ConfigType::text, &RunOptions::key, "--key", "the key limits apply to"},
    {"shell", ConfigType::boolean, &RunOptions::shell, "--shell", "run through sh -c"},
    {"pty", ConfigType::boolean, &RunOptions::pty, "--pty", "a terminal for each job"},
    {"retries", ConfigType::whole, &RunOptions::retries, "--retries", "attempts per job"},
    {"backoff", ConfigType::duration, &RunOptions::backoff, "--backoff",
     "first retry delay"},
    {"backoff_max", ConfigType::duration, &RunOptions::backoff_max, "--backoff-max",
     "longest retry delay"},
    {"timeout", ConfigType::duration, &RunOptions::timeout, "--timeout", "per attempt"},
    {"kill_grace", ConfigType::duration, &RunOptions::kill_grace, "--kill-grace",
     "TERM to KILL"},
    {"grace", ConfigType::duration, &RunOptions::grace, "--grace",
     "for running jobs on a stop"},
    {"on_interrupt", ConfigType::text, &RunOptions::on_interrupt, "--on-interrupt",
     "requeue or hold", 1, check_on_interrupt},
    {"max_output", ConfigType::text, &RunOptions::max_output, "--max-output",
     "output tail kept per job", 1, check_max_output},
    {"name", ConfigType::text, &RunOptions::name, "--name", "the run's name"},
    {"store", ConfigType::text, &RunOptions::config_store, "--store",
     "the store, when neither --store nor MUSTER_STORE names one"},
    {"command", ConfigType::texts, read_command, "", "the command, when none is given"},
    {"priority", ConfigType::text, &RunOptions::priority, "--priority",
     "a job's priority"},
    {"per_key", ConfigType::whole, &RunOptions::per_key, "--per-key",
     "running jobs per key"},
    {"per_key_daily", ConfigType::whole, &RunOptions::per_key_daily, "--per-key-daily",
     "jobs per key per day"},
    {"day_starts", ConfigType::text, &RunOptions::day_starts, "--day-starts",
     "when a day window starts", 1, check_day_starts},
    {"timezone", ConfigType::text, &RunOptions::timezone, "--timezone",
     "the zone of day windows", 1, check_timezone},
    {"count", ConfigType::text, &RunOptions::count, "--count",
     "attempts or successes count against daily caps", 1, check_count},
    {"limit_scope", ConfigType::text, &RunOptions::limit_scope, "--limit-scope",
     "the jobs of the run or of the store count against limits", 1, check_limit_scope},
    {"rate", ConfigType::text, &RunOptions::rate, "--rate", "global start rate", 1,
     check_rate},
    {"locks", ConfigType::texts, &RunOptions::locks, "--lock", "locks the run holds"},
    {"job_locks", ConfigType::texts, &RunOptions::job_locks, "--job-lock",
     "the locks each job holds"},
    {"job_lock", ConfigType::texts, &RunOptions::job_locks, "--job-lock",
     "the lock each job holds", 1, nullptr, Listed::no},
    {"halt_mode", ConfigType::text, &RunOptions::halt_mode, "--halt-mode",
     "drain or stop on a halt", 1, check_halt_mode},
    {"heartbeat", ConfigType::duration, &RunOptions::heartbeat, "--heartbeat",
     "the agent's heartbeat interval"},
    {"slots", ConfigType::table, read_slots, "", "ports, dir, hooks, stagger, sidecar"},
    {"rules", ConfigType::tables, read_rules_key, "", "outcomes mapped to actions"},
};

/// The keys as the unknown-key error lists them.
std::string listed_keys() {
  std::vector<std::string> names;
  for (const auto& k : k_config_key_table) {
    if (k.listed == Listed::yes) {
      names.push_back(k.type == ConfigType::table    ? "[" + std::string(k.name) + "]"
                      : k.type == ConfigType::tables ? "[[" + std::string(k.name) + "]]"
                                                     : std::string(k.name));
    }
  }
  return join_names(names);
}

/// Reads a text, and checks it as a duration when it is one.
util::Result<std::string> read_text(const std::string& file, const toml::node& node,
                                    const ConfigKey& k) {
  auto v = as_string(file, node, k.name);
  if (v && k.type == ConfigType::duration) {
    if (auto ms = util::parse_duration_ms(*v); !ms) {
      return util::Error{where(file, node, k.name) + ": " + ms.error().message};
    }
  }
  return v;
}

/// Reads one key's value into `o`, unless its flag was given.
util::Result<void> apply_key(const std::string& file, const toml::node& node,
                             const ConfigKey& k, RunOptions& o) {
  const bool given = *k.flag != '\0' && o.given.count(k.flag) > 0;
  auto put = [&](auto member, auto value) -> util::Result<void> {
    if (!value) {
      return value.error();
    }
    if (!given) {
      o.*member = *value;
    }
    return {};
  };
  const std::string key = k.name;
  return std::visit(
      [&](auto target) -> util::Result<void> {
        using T = decltype(target);
        if constexpr (std::is_same_v<T, ConfigReader>) {
          return target(file, node, key, o);
        } else if constexpr (std::is_same_v<T, int64_t RunOptions::*>) {
          return put(target, as_int(file, node, key, k.min));
        } else if constexpr (std::is_same_v<T, bool RunOptions::*>) {
          auto v = node.value<bool>();
          if (!v || !node.is_boolean()) {
            return bad(file, node, key, "true or false");
          }
          return put(target, util::Result<bool>(*v));
        } else if constexpr (std::is_same_v<T, std::string RunOptions::*>) {
          if (auto r = put(target, read_text(file, node, k)); !r) {
            return r;
          }
          if (k.check) {
            if (auto r = k.check(o.*target); !r) {
              return util::Error{where(file, node, key) + ": " + r.error().message};
            }
          }
          return {};
        } else {
          return put(target, as_strings(file, node, key));
        }
      },
      k.target);
}

} // namespace

std::string configured_store() {
  struct stat st {};
  if (::stat("muster.toml", &st) != 0) {
    return "";
  }
  try {
    const toml::table root = toml::parse_file("muster.toml");
    return root["store"].value_or(std::string());
  } catch (const toml::parse_error&) {
    return ""; // `muster run` reports the error, with its line and column
  }
}

util::Result<void> apply_config(RunOptions& o) {
  std::string file = o.config;
  if (file.empty()) {
    struct stat st {};
    if (::stat("muster.toml", &st) != 0) {
      return {};
    }
    file = "muster.toml";
  }
  toml::table root;
  try {
    root = toml::parse_file(file);
  } catch (const toml::parse_error& e) {
    const auto& at = e.source().begin;
    return util::Error{file + ":" + std::to_string(at.line) + ":" +
                       std::to_string(at.column) + ": " + std::string(e.description())};
  }
  o.config_used = file;
  for (const auto& [name, node] : root) {
    const ConfigKey* key = nullptr;
    for (const auto& k : k_config_key_table) {
      if (name.str() == k.name) {
        key = &k;
        break;
      }
    }
    if (!key) {
      return util::Error{where(file, node, std::string(name.str())) +
                         ": unknown key; the keys are " + listed_keys()};
    }
    if (auto r = apply_key(file, node, *key, o); !r) {
      return r;
    }
  }
  return {};
}

} // namespace muster::cli
