#include "core/slots.hpp"

#include <algorithm>
#include <cctype>

namespace muster::core {

namespace {

std::string env_name(const std::string& name) {
  std::string out = "MUSTER_PORT_";
  for (char c : name) {
    out += std::isalnum(static_cast<unsigned char>(c))
               ? static_cast<char>(std::toupper(static_cast<unsigned char>(c)))
               : '_';
  }
  return out;
}

std::string at(const PortSpec& spec) {
  const std::string key = "slots.ports." + spec.name;
  return spec.where.empty() ? key : spec.where + ": " + key;
}

bool valid_name(const std::string& name) {
  if (name.empty()) {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
}

} // namespace

util::Result<std::vector<SlotPorts>> plan_ports(const std::vector<PortSpec>& specs,
                                               int64_t slots) {
  struct Owned {
    int64_t first;
    int64_t last;
    const PortSpec* spec;
    int64_t slot;
  };
  std::vector<Owned> owned;
  std::vector<SlotPorts> plan(static_cast<size_t>(std::max<int64_t>(slots, 0)));
  for (int64_t s = 0; s < slots; ++s) {
    plan[static_cast<size_t>(s)].slot = s;
  }
  for (size_t i = 0; i < specs.size(); ++i) {
    const PortSpec& spec = specs[i];
    if (!valid_name(spec.name)) {
      return util::Error{at(spec) + ": a port name is letters, digits, '_' and '-'"};
    }
    for (size_t j = 0; j < i; ++j) {
      if (specs[j].name == spec.name) {
        return util::Error{at(spec) + ": defined twice"};
      }
    }
    if (spec.count < 1) {
      return util::Error{at(spec) + ": count must be at least 1, not " +
                         std::to_string(spec.count)};
    }
    if (spec.stride < spec.count && slots > 1) {
      return util::Error{at(spec) + ": stride " + std::to_string(spec.stride) +
                         " is less than count " + std::to_string(spec.count) +
                         ", so the slots' ranges would overlap"};
    }
    for (int64_t s = 0; s < slots; ++s) {
      const int64_t first = spec.base + s * spec.stride;
      const int64_t last = first + spec.count - 1;
      if (first < 1024 || last > 65535) {
        return util::Error{at(spec) + ": slot " + std::to_string(s) + " would get " +
                           (first == last ? "port " + std::to_string(first)
                                          : "ports " + std::to_string(first) + "-" +
                                                std::to_string(last)) +
                           ", outside 1024-65535"};
      }
      for (const Owned& o : owned) {
        if (first <= o.last && o.first <= last) {
          return util::Error{at(spec) + ": slot " + std::to_string(s) + "'s " +
                             std::to_string(first) + "-" + std::to_string(last) +
                             " overlaps port " + o.spec->name + " of slot " +
                             std::to_string(o.slot) + " (" + std::to_string(o.first) + "-" +
                             std::to_string(o.last) + ")"};
        }
      }
      owned.push_back(Owned{first, last, &spec, s});
      plan[static_cast<size_t>(s)].ports[spec.name] = {first, last};
    }
  }
  return plan;
}

std::map<std::string, std::string> slot_values(const SlotPorts& ports) {
  std::map<std::string, std::string> out;
  for (const auto& [name, range] : ports.ports) {
    out["port." + name] = std::to_string(range.first);
    out["port." + name + ".last"] = std::to_string(range.second);
  }
  return out;
}

std::vector<std::string> slot_env(const SlotPorts& ports) {
  std::vector<std::string> out;
  for (const auto& [name, range] : ports.ports) {
    out.push_back(env_name(name) + "=" + std::to_string(range.first));
    out.push_back(env_name(name) + "_LAST=" + std::to_string(range.second));
  }
  return out;
}

} // namespace muster::core
