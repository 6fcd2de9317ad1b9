// `muster add RUN --input more.csv`: appends jobs to a run, made from the
// rows with the run's own templates. The input is checked whole first, in
// one transaction: a bad row or a clashing id adds nothing.

#include "cli/common.hpp"
#include "cli/rows.hpp"
#include "util/strings.hpp"

namespace muster::cli {

int cmd_add(const GlobalOptions& g, const AddOptions& o) {
  auto store = open_store(g, store::Create::no);
  const auto run = find_run(*store, o.run);
  if (run.state == core::RunState::cancelled) {
    throw Failure{ExitCode::usage, "run " + run.id + " was cancelled: start a new run instead"};
  }
  const JobTemplates templates = JobTemplates::parse(run.settings);
  JobSource source(templates, open_rows(o.inputs, o.format, {}), run.total);
  if (source.columns() != run.columns) {
    throw Failure{ExitCode::usage,
                  "--input " + util::join(source.labels(), ", ") + ": its fields (" +
                      (source.columns().empty() ? "none named" : util::join(source.columns(), ", ")) +
                      ") differ from the run's (" +
                      (run.columns.empty() ? "none named" : util::join(run.columns, ", ")) + ")"};
  }
  source.check_fields();
  auto added = store->add_jobs(run.rid, [&](store::NewJob& job) { return source.next(job); });
  if (!added) {
    throw Failure{ExitCode::usage, added.error().message + " (nothing was added)"};
  }
  check(store->add_event(run.rid, make_event("add", std::to_string(*added) + " job(s) from " +
                                                        util::join(source.labels(), ", "))));
  if (g.json) {
    std::printf("{\"run\":\"%s\",\"added\":%lld}\n", run.id.c_str(), static_cast<long long>(*added));
  } else if (!g.quiet) {
    const bool alive = holder_alive(run.holder);
    std::fprintf(stderr, "muster: added %lld job(s) to run %s; %s\n",
                 static_cast<long long>(*added), run.id.c_str(),
                 alive ? ("its agent (pid " + std::to_string(run.holder.pid) + ") takes them")
                             .c_str()
                       : ("`muster resume " + run.id + "` runs them").c_str());
  }
  return to_int(ExitCode::ok);
}

} // namespace muster::cli
