// `muster why RUN JOB`: why a job is not running now. `app::why()` reads the
// job, the run's halt, its agent, the key's use of each limit and the job's
// lock; this prints each thing that holds the job back.

#include "app/overview.hpp"
#include "cli/common.hpp"
#include "ui/views.hpp"
#include "util/time.hpp"

namespace muster::cli {

int cmd_why(const GlobalOptions& g, const WhyOptions& o) {
  auto store = open_store(g, store::Create::no, store::Access::read_only);
  const auto v = check(app::why(*store, o.run, o.job, util::now_ms()));
  if (g.json) {
    nlohmann::ordered_json j = ui::job_json(v.job);
    j["run"] = v.run.id;
    nlohmann::ordered_json reasons = nlohmann::ordered_json::array();
    const auto or_null = [](auto value, bool set) {
      return set ? nlohmann::ordered_json(value) : nlohmann::ordered_json(nullptr);
    };
    for (const auto& r : v.reasons) {
      reasons.push_back({{"kind", r.kind},
                         {"text", r.text},
                         {"key", or_null(r.key, !r.key.empty())},
                         {"count", or_null(r.count, r.count >= 0)},
                         {"limit", or_null(r.limit, r.limit >= 0)},
                         {"until", or_null(util::format_timestamp(r.until), r.until > 0)},
                         {"until_ms", or_null(r.until, r.until > 0)},
                         {"holders", r.holders}});
    }
    j["why"] = reasons;
    j["limits"] = v.notes;
    std::printf("%s\n", ui::dump(j, 2).c_str());
    return to_int(ExitCode::ok);
  }
  std::printf("job %s of run %s: %s\n", v.job.id.c_str(), v.run.id.c_str(),
              std::string(core::to_string(v.job.state)).c_str());
  for (const auto& r : v.reasons) {
    std::printf("  - %s\n", r.text.c_str());
  }
  for (const auto& n : v.notes) {
    std::printf("  %s\n", n.c_str());
  }
  return to_int(ExitCode::ok);
}

} // namespace muster::cli
