// `muster add RUN --input more.csv`: appends jobs to a run, made from the
// rows with the run's own templates. The input is checked whole first, in
// one transaction: a bad row or a clashing id adds nothing.

#include "app/control.hpp"
#include "cli/common.hpp"
#include "ui/views.hpp"

namespace muster::cli {

int cmd_add(const GlobalOptions& g, const AddOptions& o) {
  auto store = open_store(g, store::Create::no);
  const auto added = check(app::add_jobs(
      *store, o.run, app::RunInputs{o.inputs, o.format, {}, {}, o.json_path}));
  const auto& run = added.target.run;
  if (g.json) {
    std::printf("%s\n", ui::dump({{"run", run.id}, {"added", added.added}}, 2).c_str());
  } else if (!g.quiet) {
    std::fprintf(
        stderr, "muster: added %lld job(s) to run %s; %s\n",
        static_cast<long long>(added.added), run.id.c_str(),
        added.target.agent_alive
            ? ("its agent (pid " + std::to_string(run.holder.pid) + ") takes them")
                  .c_str()
            : ("`muster resume " + run.id + "` runs them").c_str());
  }
  return to_int(ExitCode::ok);
}

} // namespace muster::cli
