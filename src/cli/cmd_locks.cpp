// `muster locks`: every lock held in the store, and by whom.

#include "cli/common.hpp"
#include "ui/table.hpp"
#include "ui/views.hpp"
#include "util/time.hpp"

namespace muster::cli {

int cmd_locks(const GlobalOptions& g) {
  auto store = open_store(g, store::Create::no, store::Access::read_only);
  const auto locks = check(app::locks(*store));
  if (g.json) {
    auto arr = nlohmann::ordered_json::array();
    for (const auto& l : locks) {
      arr.push_back(
          {{"name", l.name},
           {"run", l.run_id},
           {"run_name", l.run_name.empty() ? nlohmann::ordered_json(nullptr)
                                           : nlohmann::ordered_json(l.run_name)},
           {"job", l.job_id.empty() ? nlohmann::ordered_json(nullptr)
                                    : nlohmann::ordered_json(l.job_id)},
           {"since", util::format_timestamp(l.since)},
           {"pid", l.holder.pid},
           {"host", l.holder.host},
           {"alive", app::holder_alive(l.holder)}});
    }
    std::printf("%s\n", ui::dump(arr, 2).c_str());
    return to_int(ExitCode::ok);
  }
  if (locks.empty()) {
    if (!g.quiet) {
      std::printf("no locks are held\n");
    }
    return to_int(ExitCode::ok);
  }
  ui::Table t({"LOCK", "RUN", "NAME", "JOB", "SINCE", "AGENT"});
  for (const auto& l : locks) {
    const bool alive = app::holder_alive(l.holder);
    t.add({l.name, l.run_id, l.run_name.empty() ? "-" : l.run_name,
           l.job_id.empty() ? "-" : l.job_id, util::format_clock(l.since),
           l.holder.empty()
               ? "-"
               : "pid " + std::to_string(l.holder.pid) + " on " + l.holder.host +
                     (alive ? "" : " (dead: freed when a run needs it)")});
  }
  t.print(stdout);
  return to_int(ExitCode::ok);
}

} // namespace muster::cli
