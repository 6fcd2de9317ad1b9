// `muster check`: reads every page of the store and says whether it is sound.

#include "cli/common.hpp"
#include "ui/views.hpp"

namespace muster::cli {

int cmd_check(const GlobalOptions& g) {
  const auto report = check(app::check_store(g.store));
  const bool ok = report.problems.empty();
  if (g.json) {
    std::printf("%s\n", ui::dump({{"ok", ok},
                                  {"store", report.what},
                                  {"problems", report.problems},
                                  {"advice", ok ? nlohmann::ordered_json(nullptr)
                                                : nlohmann::ordered_json(report.advice)}},
                                 2)
                            .c_str());
  } else if (ok) {
    if (!g.quiet) {
      std::printf("store %s: ok\n", report.what.c_str());
    }
  } else {
    std::printf("store %s: %zu problem(s):\n", report.what.c_str(),
                report.problems.size());
    for (const auto& p : report.problems) {
      std::printf("  %s\n", p.c_str());
    }
    if (!report.advice.empty()) {
      std::fprintf(stderr, "muster: store %s is damaged; %s\n", report.what.c_str(),
                   report.advice.c_str());
    }
  }
  return to_int(ok ? ExitCode::ok : ExitCode::store);
}

} // namespace muster::cli
