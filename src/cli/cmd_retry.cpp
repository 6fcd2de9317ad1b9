// `muster retry`: move failed or interrupted jobs back to pending.

#include "app/control.hpp"
#include "cli/common.hpp"
#include "ui/views.hpp"

namespace muster::cli {

int cmd_retry(const GlobalOptions& g, const RetryOptions& o) {
  auto store = open_store(g, store::Create::no);
  store::RetrySelection sel;
  sel.failed = o.failed;
  sel.interrupted = o.interrupted;
  if (!o.job.empty()) {
    sel.job_id = o.job;
  }
  const auto retried = check(app::retry(*store, o.run, sel));
  const auto& run = retried.target.run;
  const int64_t moved = retried.requeued;
  if (g.json) {
    std::printf("%s\n", ui::dump({{"run", run.id}, {"requeued", moved}}, 2).c_str());
  } else if (!g.quiet) {
    std::printf("requeued %lld job(s) of run %s%s\n", static_cast<long long>(moved),
                run.id.c_str(),
                moved > 0 && !retried.target.agent_alive
                    ? ("; `muster resume " + run.id + "` runs them").c_str()
                    : "");
  }
  return 0;
}

} // namespace muster::cli
