#include "core/locks.hpp"

#include "util/strings.hpp"
#include "util/time.hpp"

namespace muster::core {

std::string describe_lock(const LockHolder& h) {
  if (!h.owner.empty()) {
    std::string out = "lock " + h.name + " held by " + h.owner + " since " +
                      util::format_clock(h.since);
    return h.expires_at > 0 ? out + " until " + util::format_clock(h.expires_at) : out;
  }
  std::string out = "lock " + h.name + " held by run " + h.run_id;
  if (!h.run_name.empty()) {
    out += " \"" + h.run_name + "\"";
  }
  if (!h.job_id.empty()) {
    out += " job " + h.job_id;
  }
  return out + " since " + util::format_clock(h.since);
}

util::Result<void> check_lock_name(std::string_view name) {
  if (name.empty()) {
    return util::Error{"a lock name cannot be empty"};
  }
  for (const char c : name) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return util::Error{"lock name '" + util::printable(name) +
                         "' has a control character: expected printable text"};
    }
  }
  return {};
}

} // namespace muster::core
