// `muster retry`: move failed or interrupted jobs back to pending.

#include "cli/common.hpp"

namespace muster::cli {

int cmd_retry(const GlobalOptions& g, const RetryOptions& o) {
  auto store = open_store(g, store::Create::no);
  auto run = find_run(*store, o.run);
  store::RetrySelection sel;
  sel.failed = o.failed;
  sel.interrupted = o.interrupted;
  if (!o.job.empty()) {
    sel.job_id = o.job;
  } else if (!o.failed && !o.interrupted) {
    sel.failed = sel.interrupted = true;
  }
  const int64_t moved = check(store->retry(run.rid, sel));
  if (g.json) {
    std::printf("{\"run\":\"%s\",\"requeued\":%lld}\n", run.id.c_str(),
                static_cast<long long>(moved));
  } else if (!g.quiet) {
    std::printf("requeued %lld job(s) of run %s%s\n", static_cast<long long>(moved),
                run.id.c_str(),
                moved > 0 && !holder_alive(run.holder)
                    ? ("; `muster resume " + run.id + "` runs them").c_str()
                    : "");
  }
  return 0;
}

} // namespace muster::cli
