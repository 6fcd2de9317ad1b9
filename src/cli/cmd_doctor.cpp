// `muster doctor`: how this host contains jobs, and how to get the strong mode.

#include "app/doctor.hpp"
#include "cli/common.hpp"
#include "ui/views.hpp"

namespace muster::cli {

int cmd_doctor(const GlobalOptions& g) {
  const app::Containment c = app::containment();
  if (g.json) {
    nlohmann::ordered_json j;
    j["containment"] = c.cgroup ? "cgroup" : "process-group";
    j["cgroup"] = c.cgroup ? nlohmann::ordered_json(c.where) : nullptr;
    j["why"] = c.cgroup ? nullptr : nlohmann::ordered_json(c.why);
    std::printf("%s\n", ui::dump(j, 2).c_str());
    return 0;
  }
  if (c.cgroup) {
    std::printf(
        "containment: cgroup: each job runs in a cgroup of its own under %s,\n"
        "             killed whole when the job ends, times out or is cancelled,\n"
        "             and when muster dies\n",
        c.where.c_str());
    return 0;
  }
  std::printf(
      "containment: process groups (weaker): %s\n"
      "             A process that leaves its job's group (setsid, a daemon) is\n"
      "             killed when the job ends, found by its MUSTER_JOB_ID; if muster\n"
      "             itself is killed, `muster resume` kills it later.\n",
      c.why.c_str());
  return 0;
}

} // namespace muster::cli
