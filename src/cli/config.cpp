#include "cli/config.hpp"

#include "core/limits.hpp"
#include "core/rules.hpp"
#include "util/time.hpp"

#include <sys/stat.h>
#include <toml++/toml.h>

namespace muster::cli {

namespace {

std::string where(const std::string& file, const toml::node& node, const std::string& key) {
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

util::Result<std::vector<std::string>> as_strings(const std::string& file,
                                                  const toml::node& node,
                                                  const std::string& key) {
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
      int64_t* target = field == "base"   ? &spec.base
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
        return util::Error{where(file, v, fkey) +
                           ": unknown key; a rule has match, exit_codes, action, cooldown, "
                           "retry_after, block_key and error_type"};
      }
    }
    if (!has_action) {
      return bad(file, item, key + ".action", "an action: succeed, retry, fail or halt");
    }
    if (rule.match.empty() && rule.exit_codes.empty()) {
      return bad(file, item, key, "match, exit_codes or both (a rule that matches everything "
                                  "is the default)");
    }
    if (rule.block_key && rule.action != core::Action::fail) {
      return bad(file, item, key + ".block_key", "block_key only with action = \"fail\"");
    }
    if (has_cooldown && rule.action != core::Action::halt) {
      return bad(file, item, key + ".cooldown", "cooldown only with action = \"halt\"");
    }
    if (has_retry_after && rule.action != core::Action::retry) {
      return bad(file, item, key + ".retry_after", "retry_after only with action = \"retry\"");
    }
    out.push_back(std::move(rule));
  }
  // A bad pattern is found here, with its line, before anything runs.
  if (auto compiled = core::RuleSet::compile(out); !compiled) {
    return compiled.error();
  }
  return {};
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
    return util::Error{file + ":" + std::to_string(at.line) + ":" + std::to_string(at.column) +
                       ": " + std::string(e.description())};
  }
  o.config_used = file;
  auto given = [&](const char* flag) { return o.given.count(flag) > 0; };
  for (const auto& [k, node] : root) {
    const std::string key(k.str());
    util::Result<void> r;
    auto set_string = [&](const char* flag, std::string& target) -> util::Result<void> {
      auto v = as_string(file, node, key);
      if (!v) {
        return v.error();
      }
      if (!given(flag)) {
        target = *v;
      }
      return {};
    };
    auto set_duration = [&](const char* flag, std::string& target) -> util::Result<void> {
      auto v = as_string(file, node, key);
      if (!v) {
        return v.error();
      }
      if (auto ms = util::parse_duration_ms(*v); !ms) {
        return util::Error{where(file, node, key) + ": " + ms.error().message};
      }
      if (!given(flag)) {
        target = *v;
      }
      return {};
    };
    if (key == "jobs") {
      auto v = as_int(file, node, key, 1);
      if (!v) {
        return v.error();
      }
      if (!given("--jobs")) {
        o.slots = *v;
      }
    } else if (key == "retries") {
      auto v = as_int(file, node, key, 1);
      if (!v) {
        return v.error();
      }
      if (!given("--retries")) {
        o.retries = *v;
      }
    } else if (key == "shell") {
      auto v = node.value<bool>();
      if (!v || !node.is_boolean()) {
        return bad(file, node, key, "true or false");
      }
      if (!given("--shell")) {
        o.shell = *v;
      }
    } else if (key == "input") {
      auto v = as_strings(file, node, key);
      if (!v) {
        return v.error();
      }
      if (!given("--input")) {
        o.inputs = *v;
      }
    } else if (key == "command") {
      auto v = as_strings(file, node, key);
      if (!v) {
        return v.error();
      }
      if (o.command_words.empty()) {
        o.command_words = *v;
      }
    } else if (key == "format") {
      r = set_string("--format", o.format);
    } else if (key == "id_column") {
      r = set_string("--id-column", o.id_column);
    } else if (key == "key") {
      r = set_string("--key", o.key);
    } else if (key == "name") {
      r = set_string("--name", o.name);
    } else if (key == "on_interrupt") {
      r = set_string("--on-interrupt", o.on_interrupt);
      if (r && o.on_interrupt != "requeue" && o.on_interrupt != "hold") {
        return bad(file, node, key, "\"requeue\" or \"hold\"");
      }
    } else if (key == "max_output") {
      r = set_string("--max-output", o.max_output);
      if (r && !util::parse_bytes(o.max_output)) {
        return bad(file, node, key, "a size such as \"1M\"");
      }
    } else if (key == "rules") {
      o.rules.clear();
      r = read_rules(file, node, o.rules);
    } else if (key == "halt_mode") {
      r = set_string("--halt-mode", o.halt_mode);
      if (r && !core::parse_halt_mode(o.halt_mode)) {
        return bad(file, node, key, "\"drain\" or \"stop\"");
      }
    } else if (key == "per_key" || key == "per_key_daily") {
      auto v = as_int(file, node, key, 1);
      if (!v) {
        return v.error();
      }
      if (!given(key == "per_key" ? "--per-key" : "--per-key-daily")) {
        (key == "per_key" ? o.per_key : o.per_key_daily) = *v;
      }
    } else if (key == "day_starts") {
      r = set_string("--day-starts", o.day_starts);
      if (r) {
        if (auto t = core::parse_time_of_day(o.day_starts); !t) {
          return util::Error{where(file, node, key) + ": " + t.error().message};
        }
      }
    } else if (key == "timezone") {
      r = set_string("--timezone", o.timezone);
      if (r) {
        if (auto t = core::check_timezone(o.timezone); !t) {
          return util::Error{where(file, node, key) + ": " + t.error().message};
        }
      }
    } else if (key == "count") {
      r = set_string("--count", o.count);
      if (r && !core::parse_cap_count(o.count)) {
        return bad(file, node, key, "\"attempts\" or \"successes\"");
      }
    } else if (key == "rate") {
      r = set_string("--rate", o.rate);
      if (r) {
        if (auto t = core::parse_rate(o.rate); !t) {
          return util::Error{where(file, node, key) + ": " + t.error().message};
        }
      }
    } else if (key == "priority") {
      r = set_string("--priority", o.priority);
    } else if (key == "job_locks" || key == "job_lock") {
      r = set_string("--job-lock", o.job_lock);
    } else if (key == "locks") {
      auto v = as_strings(file, node, key);
      if (!v) {
        return v.error();
      }
      if (!given("--lock")) {
        o.locks = *v;
      }
    } else if (key == "backoff") {
      r = set_duration("--backoff", o.backoff);
    } else if (key == "backoff_max") {
      r = set_duration("--backoff-max", o.backoff_max);
    } else if (key == "timeout") {
      r = set_duration("--timeout", o.timeout);
    } else if (key == "kill_grace") {
      r = set_duration("--kill-grace", o.kill_grace);
    } else if (key == "grace") {
      r = set_duration("--grace", o.grace);
    } else if (key == "heartbeat") {
      r = set_duration("--heartbeat", o.heartbeat);
    } else if (key == "slots") {
      const toml::table* slots = node.as_table();
      if (!slots) {
        return bad(file, node, key, "a table ([slots])");
      }
      for (const auto& [sk, sv] : *slots) {
        const std::string sub(sk.str());
        const std::string skey = "slots." + sub;
        if (sub == "ports") {
          const toml::table* ports = sv.as_table();
          if (!ports) {
            return bad(file, sv, skey, "a table ([slots.ports])");
          }
          if (auto pr = read_ports(file, *ports, o.ports); !pr) {
            return pr.error();
          }
        } else if (sub == "sidecar") {
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
              o.slot.sidecar = *v;
              if (cv.is_string()) {
                // One string is a script for sh.
                o.slot.sidecar = {"/bin/sh", "-c", (*v)[0]};
              }
            } else if (field == "ready") {
              auto v = as_string(file, cv, ckey);
              if (!v) {
                return v.error();
              }
              if (v->rfind("http://", 0) != 0 && v->rfind("tcp://", 0) != 0 &&
                  v->rfind("cmd:", 0) != 0) {
                return bad(file, cv, ckey, "http://HOST:PORT/PATH, tcp://HOST:PORT or cmd:SCRIPT");
              }
              o.slot.ready = *v;
            } else if (field == "ready_timeout") {
              auto v = as_string(file, cv, ckey);
              if (!v) {
                return v.error();
              }
              auto ms = util::parse_duration_ms(*v);
              if (!ms) {
                return util::Error{where(file, cv, ckey) + ": " + ms.error().message};
              }
              o.slot.ready_timeout_ms = *ms;
            } else if (field == "max_restarts") {
              auto v = as_int(file, cv, ckey, 0);
              if (!v) {
                return v.error();
              }
              o.slot.max_restarts = *v;
            } else {
              return util::Error{where(file, cv, ckey) +
                                 ": unknown key; sidecar has command, ready, ready_timeout and "
                                 "max_restarts"};
            }
          }
          if (o.slot.sidecar.empty()) {
            return bad(file, sv, skey + ".command", "the sidecar's command");
          }
        } else if (sub == "setup" || sub == "teardown" || sub == "before_job" ||
                   sub == "after_job") {
          auto v = as_string(file, sv, skey);
          if (!v) {
            return v.error();
          }
          (sub == "setup"        ? o.slot.setup
           : sub == "teardown"   ? o.slot.teardown
           : sub == "before_job" ? o.slot.before_job
                                 : o.slot.after_job) = *v;
        } else if (sub == "stagger") {
          auto v = as_string(file, sv, skey);
          if (!v) {
            return v.error();
          }
          auto ms = util::parse_duration_ms(*v);
          if (!ms) {
            return util::Error{where(file, sv, skey) + ": " + ms.error().message};
          }
          o.slot.stagger_ms = *ms;
        } else if (sub == "dir") {
          if (auto b = sv.value<bool>(); b && sv.is_boolean()) {
            o.slot.dir = *b;
            continue;
          }
          const toml::table* dir = sv.as_table();
          if (!dir) {
            return bad(file, sv, skey, "true, or a table such as { from = \"profiles/base\" }");
          }
          o.slot.dir = true;
          for (const auto& [dk, dv] : *dir) {
            const std::string field(dk.str());
            const std::string dkey = skey + "." + field;
            if (field == "from") {
              auto v = as_string(file, dv, dkey);
              if (!v) {
                return v.error();
              }
              o.slot.dir_from = *v;
            } else if (field == "exclude") {
              auto v = as_strings(file, dv, dkey);
              if (!v) {
                return v.error();
              }
              o.slot.dir_exclude = *v;
            } else if (field == "keep") {
              auto v = dv.value<bool>();
              if (!v || !dv.is_boolean()) {
                return bad(file, dv, dkey, "true or false");
              }
              o.slot.dir_keep = *v;
            } else {
              return util::Error{where(file, dv, dkey) +
                                 ": unknown key; dir has from, exclude and keep"};
            }
          }
        } else {
          return util::Error{where(file, sv, skey) +
                             ": unknown key; [slots] has ports, dir, setup, teardown, "
                             "before_job, after_job, stagger and sidecar"};
        }
      }
    } else {
      return util::Error{where(file, node, key) +
                         ": unknown key; the keys are jobs, input, format, id_column, key, "
                         "shell, retries, backoff, backoff_max, timeout, kill_grace, grace, "
                         "on_interrupt, max_output, name, command, priority, per_key, "
                         "per_key_daily, day_starts, timezone, count, rate, locks, job_locks, "
                         "halt_mode, heartbeat, [slots] and [[rules]]"};
    }
    if (!r) {
      return r.error();
    }
  }
  return {};
}

} // namespace muster::cli
