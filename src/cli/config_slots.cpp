// The [slots] table of muster.toml: each of its keys is a row of
// k_slot_key_table, read into core::SlotSettings (and RunOptions::ports).

#include "cli/config_read.hpp"

#include <toml++/toml.h>
#include <type_traits>
#include <variant>

namespace muster::cli::config_read {

namespace {

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

/// Reads a [slots] key whose value is more than one value.
using SlotReader = util::Result<void> (*)(const std::string& file, const toml::node& node,
                                          const std::string& key, RunOptions& o);
/// Where a [slots] key's value goes in core::SlotSettings, or its reader.
using SlotTarget = std::variant<std::string core::SlotSettings::*,
                                int64_t core::SlotSettings::*, SlotReader>;

/// One key of [slots].
struct SlotKey {
  const char* name; ///< as written under [slots]
  ConfigType type;  ///< text (a hook), duration, or table (read by its reader)
  SlotTarget target;
  const char* help;
};

util::Result<void> read_slot_ports(const std::string& file, const toml::node& node,
                                   const std::string& key, RunOptions& o) {
  const toml::table* ports = node.as_table();
  if (!ports) {
    return bad(file, node, key, "a table ([slots.ports])");
  }
  return read_ports(file, *ports, o.ports);
}

// In the order the unknown-key error lists them.
const SlotKey k_slot_key_table[] = {
    {"ports", ConfigType::table, read_slot_ports, "named ports, one range per slot"},
    {"dir", ConfigType::table,
     +[](const std::string& file, const toml::node& node, const std::string& key,
         RunOptions& o) { return read_slot_dir(file, node, key, o.slot); },
     "a directory per slot: true, or { from, exclude, keep }"},
    {"setup", ConfigType::text, &core::SlotSettings::setup, "run when a slot starts"},
    {"teardown", ConfigType::text, &core::SlotSettings::teardown,
     "run when a slot stops"},
    {"before_job", ConfigType::text, &core::SlotSettings::before_job,
     "run before each job in the slot"},
    {"after_job", ConfigType::text, &core::SlotSettings::after_job,
     "run after each job in the slot"},
    {"stagger", ConfigType::duration, &core::SlotSettings::stagger_ms,
     "between slots' setups"},
    {"sidecar", ConfigType::table,
     +[](const std::string& file, const toml::node& node, const std::string& key,
         RunOptions& o) { return read_sidecar(file, node, key, o.slot); },
     "a process beside each slot: { command, ready, ready_timeout, max_restarts }"},
};

/// Reads one [slots] key into `o`.
util::Result<void> apply_slot_key(const std::string& file, const toml::node& node,
                                  const SlotKey& k, RunOptions& o) {
  const std::string key = "slots." + std::string(k.name);
  return std::visit(
      [&](auto target) -> util::Result<void> {
        using T = decltype(target);
        if constexpr (std::is_same_v<T, SlotReader>) {
          return target(file, node, key, o);
        } else if constexpr (std::is_same_v<T, int64_t core::SlotSettings::*>) {
          auto ms = as_duration(file, node, key);
          if (!ms) {
            return ms.error();
          }
          o.slot.*target = *ms;
          return {};
        } else {
          auto v = as_string(file, node, key);
          if (!v) {
            return v.error();
          }
          o.slot.*target = *v;
          return {};
        }
      },
      k.target);
}

} // namespace

util::Result<void> read_slots(const std::string& file, const toml::node& node,
                              const std::string& key, RunOptions& o) {
  const toml::table* slots = node.as_table();
  if (!slots) {
    return bad(file, node, key, "a table ([slots])");
  }
  for (const auto& [sk, sv] : *slots) {
    const std::string sub(sk.str());
    const SlotKey* found = nullptr;
    for (const auto& k : k_slot_key_table) {
      if (sub == k.name) {
        found = &k;
      }
    }
    if (!found) {
      std::vector<std::string> names;
      for (const auto& k : k_slot_key_table) {
        names.push_back(k.name);
      }
      return util::Error{where(file, sv, "slots." + sub) + ": unknown key; [slots] has " +
                         join_names(names)};
    }
    if (auto r = apply_slot_key(file, sv, *found, o); !r) {
      return r;
    }
  }
  return {};
}

} // namespace muster::cli::config_read
