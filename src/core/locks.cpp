#include "core/locks.hpp"

#include "util/time.hpp"

namespace muster::core {

std::string describe_lock(const LockHolder& h) {
  std::string out = "lock " + h.name + " held by run " + h.run_id;
  if (!h.run_name.empty()) {
    out += " \"" + h.run_name + "\"";
  }
  if (!h.job_id.empty()) {
    out += " job " + h.job_id;
  }
  return out + " since " + util::format_clock(h.since);
}

} // namespace muster::core
