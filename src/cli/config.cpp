#include "cli/config.hpp"

#include "core/limits.hpp"
#include "core/rules.hpp"
#include "util/time.hpp"
#include "util/timezone.hpp"

#include <sys/stat.h>
#include <toml++/toml.h>
#include <type_traits>
#include <variant>

namespace muster::cli {

namespace {

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

util::Result<void> read_ports(const std::string& file, const toml::table& ports,
                              std::vector<core::PortSpec>& out) {
  for (const auto& [k, node] : ports) {
    const std::string name(k.str());
    const std::string key = "slots.ports." + name;
    const toml::table* t = node.as_table();
    if (!t) {
      return bad(file, node, key, "a table such as { base = 4723, stride = 2 }");
    }
    core::PortSpec spec;
    spec.name = name;
    spec.where = file + ":" + std::to_string(node.source().begin.line);
    bool has_base = false;
    for (const auto& [pk, pv] : *t) {
      const std::string field(pk.str());
      int64_t* target = field == "base"     ? &spec.base
                        : field == "stride" ? &spec.stride
                        : field == "count"  ? &spec.count
                                            : nullptr;
      if (!target) {
        return util::Error{where(file, pv, key + "." + field) +
                           ": unknown key; a port has base, stride and count"};
      }
      auto v = as_int(file, pv, key + "." + field, field == "stride" ? 0 : 1);
      if (!v) {
        return v.error();
      }
      *target = *v;
      has_base = has_base || field == "base";
    }
    if (!has_base) {
      return bad(file, node, key, "a base port, such as { base = 4723 }");
    }
    out.push_back(spec);
  }
  return {};
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
            "retry_after, block_key and error_type"};
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
      return bad(file, item, key + ".cooldown", "cooldown only with action = \"halt\"");
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

util::Result<void> read_sidecar(const std::string& file, const toml::node& sv,
                                const std::string& skey, core::SlotSettings& slot) {
  const toml::table* sc = sv.as_table();
  if (!sc) {
    return bad(file, sv, skey, "a table ([slots.sidecar])");
  }
  for (const auto& [ck, cv] : *sc) {
    const std::string field(ck.str());
    const std::string ckey = skey + "." + field;
    if (field == "command") {
      auto v = as_strings(file, cv, ckey);
      if (!v) {
        return v.error();
      }
      slot.sidecar = *v;
      if (cv.is_string()) {
        // One string is a script for sh.
        slot.sidecar = {"/bin/sh", "-c", (*v)[0]};
      }
    } else if (field == "ready") {
      auto v = as_string(file, cv, ckey);
      if (!v) {
        return v.error();
      }
      if (v->rfind("http://", 0) != 0 && v->rfind("tcp://", 0) != 0 &&
          v->rfind("cmd:", 0) != 0) {
        return bad(file, cv, ckey,
                   "http://HOST:PORT/PATH, tcp://HOST:PORT or cmd:SCRIPT");
      }
      slot.ready = *v;
    } else if (field == "ready_timeout") {
      auto ms = as_duration(file, cv, ckey);
      if (!ms) {
        return ms.error();
      }
      slot.ready_timeout_ms = *ms;
    } else if (field == "max_restarts") {
      auto v = as_int(file, cv, ckey, 0);
      if (!v) {
        return v.error();
      }
      slot.max_restarts = *v;
    } else {
      return util::Error{where(file, cv, ckey) +
                         ": unknown key; sidecar has command, ready, ready_timeout and "
                         "max_restarts"};
    }
  }
  if (slot.sidecar.empty()) {
    return bad(file, sv, skey + ".command", "the sidecar's command");
  }
  return {};
}

util::Result<void> read_slot_dir(const std::string& file, const toml::node& sv,
                                 const std::string& skey, core::SlotSettings& slot) {
  if (auto b = sv.value<bool>(); b && sv.is_boolean()) {
    slot.dir = *b;
    return {};
  }
  const toml::table* dir = sv.as_table();
  if (!dir) {
    return bad(file, sv, skey, "true, or a table such as { from = \"profiles/base\" }");
  }
  slot.dir = true;
  for (const auto& [dk, dv] : *dir) {
    const std::string field(dk.str());
    const std::string dkey = skey + "." + field;
    if (field == "from") {
      auto v = as_string(file, dv, dkey);
      if (!v) {
        return v.error();
      }
      slot.dir_from = *v;
    } else if (field == "exclude") {
      auto v = as_strings(file, dv, dkey);
      if (!v) {
        return v.error();
      }
      slot.dir_exclude = *v;
    } else if (field == "keep") {
      auto v = dv.value<bool>();
      if (!v || !dv.is_boolean()) {
        return bad(file, dv, dkey, "true or false");
      }
      slot.dir_keep = *v;
    } else {
      return util::Error{where(file, dv, dkey) +
                         ": unknown key; dir has from, exclude and keep"};
    }
  }
  return {};
}

std::string* hook_of(core::SlotSettings& slot, const std::string& sub) {
  return sub == "setup"        ? &slot.setup
         : sub == "teardown"   ? &slot.teardown
         : sub == "before_job" ? &slot.before_job
         : sub == "after_job"  ? &slot.after_job
                               : nullptr;
}

util::Result<void> read_slots(const std::string& file, const toml::node& node,
                              const std::string& key, RunOptions& o) {
  const toml::table* slots = node.as_table();
  if (!slots) {
    return bad(file, node, key, "a table ([slots])");
  }
  for (const auto& [sk, sv] : *slots) {
    const std::string sub(sk.str());
    const std::string skey = "slots." + sub;
    util::Result<void> r;
    if (sub == "ports") {
      const toml::table* ports = sv.as_table();
      if (!ports) {
        return bad(file, sv, skey, "a table ([slots.ports])");
      }
      r = read_ports(file, *ports, o.ports);
    } else if (sub == "sidecar") {
      r = read_sidecar(file, sv, skey, o.slot);
    } else if (std::string* hook = hook_of(o.slot, sub)) {
      auto v = as_string(file, sv, skey);
      if (!v) {
        return v.error();
      }
      *hook = *v;
    } else if (sub == "stagger") {
      auto ms = as_duration(file, sv, skey);
      if (!ms) {
        return ms.error();
      }
      o.slot.stagger_ms = *ms;
    } else if (sub == "dir") {
      r = read_slot_dir(file, sv, skey, o.slot);
    } else {
      return util::Error{where(file, sv, skey) +
                         ": unknown key; [slots] has ports, dir, setup, teardown, "
                         "before_job, after_job, stagger and sidecar"};
    }
    if (!r) {
      return r;
    }
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

/// How a key's value is written in the file.
enum class ConfigType {
  whole,    ///< a whole number of at least `min`
  boolean,  ///< true or false
  text,     ///< a string
  texts,    ///< a string or an array of strings
  duration, ///< a string such as "30s"
  table,    ///< a table, read by its own reader: [slots]
  tables,   ///< an array of tables, read by its own reader: [[rules]]
};

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
     "csv, tsv, jsonl or lines"},
    {"id_column", ConfigType::text, &RunOptions::id_column, "--id-column",
     "the field that is each job's id"},
    {"key", ConfigType::text, &RunOptions::key, "--key", "the key limits apply to"},
    {"shell", ConfigType::boolean, &RunOptions::shell, "--shell", "run through sh -c"},
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
    {"rate", ConfigType::text, &RunOptions::rate, "--rate", "global start rate", 1,
     check_rate},
    {"locks", ConfigType::texts, &RunOptions::locks, "--lock", "locks the run holds"},
    {"job_locks", ConfigType::text, &RunOptions::job_lock, "--job-lock",
     "the lock each job holds"},
    {"job_lock", ConfigType::text, &RunOptions::job_lock, "--job-lock",
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
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    out += (i == 0 ? "" : i + 1 == names.size() ? " and " : ", ") + names[i];
  }
  return out;
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
