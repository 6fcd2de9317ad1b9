#include "cli/common.hpp"

#include "app/queries.hpp"
#include "core/limits.hpp"
#include "ui/progress.hpp"
#include "ui/views.hpp"
#include "util/strings.hpp"
#include "util/time.hpp"
#include "util/timezone.hpp"

#include <algorithm>
#include <unistd.h>

namespace muster::cli {

std::unique_ptr<store::Store> open_store(const GlobalOptions& g, store::Create create,
                                         store::Access access) {
  return check(app::open_store(g.store, create, access));
}

store::RunRecord find_run(store::Store& store, const std::string& ref) {
  return check(app::find_run(store, ref));
}

core::RunFiles run_files(const GlobalOptions& g, const store::RunRecord& run) {
  return app::run_files(g.store, run.id);
}

app::LockWaiting lock_waiting(bool quiet) {
  if (quiet) {
    return {};
  }
  return [](const store::LockRecord& held) {
    std::fprintf(stderr, "muster: waiting: %s\n", app::describe_lock(held).c_str());
  };
}

namespace {

/// The exit code of an agent's run, and what to tell the user about it.
int report_ending(store::Store& store, const store::RunRecord& run,
                  const GlobalOptions& g, const app::RunOutcome& outcome, bool count) {
  const agent::AgentResult& result = outcome.result;
  const std::string name = util::sh_quote(run.name.empty() ? run.id : run.name);
  if (result.ending == agent::Ending::halted) {
    if (!g.quiet) {
      std::fprintf(
          stderr, "muster: run %s halted until %s: %s; `muster resume %s` continues it\n",
          run.id.c_str(), util::format_clock(result.resume_at).c_str(),
          result.reason.c_str(), name.c_str());
    }
    return to_int(ExitCode::busy);
  }
  if (result.ending == agent::Ending::waiting) {
    const std::string why =
        outcome.waiting_reason.empty() ? "" : ": " + outcome.waiting_reason;
    if (!g.quiet) {
      const std::string when =
          result.resume_at > 0
              ? " after " + core::format_in_zone(
                                result.resume_at,
                                check(util::TimeZone::load(run.settings.limits.timezone)))
              : "";
      std::fprintf(stderr,
                   "muster: run %s: every job left waits%s; `muster resume %s`%s "
                   "continues it\n",
                   run.id.c_str(), why.c_str(), name.c_str(), when.c_str());
    }
    return to_int(ExitCode::waiting);
  }
  if (result.ending == agent::Ending::interrupted && result.failed_fast) {
    if (!g.quiet) {
      std::fprintf(stderr,
                   "muster: run %s stopped early (--halt); `muster resume %s` "
                   "continues it, `muster retry %s` runs its failed jobs again\n",
                   run.id.c_str(), name.c_str(), name.c_str());
    }
    return to_int(ExitCode::jobs_failed);
  }
  if (result.ending == agent::Ending::interrupted) {
    return to_int(ExitCode::interrupted);
  }
  if (result.ending == agent::Ending::deadline) {
    if (!g.quiet) {
      std::fprintf(stderr,
                   "muster: run %s passed its --deadline; `muster resume %s` continues "
                   "it\n",
                   run.id.c_str(), name.c_str());
    }
    return to_int(ExitCode::deadline);
  }
  if (result.ending == agent::Ending::held || result.ending == agent::Ending::cancelled) {
    return to_int(ExitCode::jobs_failed);
  }
  const int64_t failed = result.counts[core::JobState::failed];
  if (count) {
    return static_cast<int>(std::min<int64_t>(failed, 100));
  }
  return failed > 0 ? to_int(ExitCode::jobs_failed) : to_int(ExitCode::ok);
}

} // namespace

int execute(store::Store& store, const store::RunRecord& run, const GlobalOptions& g,
            app::ExecOptions e, const OutputFlags& output) {
  ui::ProgressOptions popts;
  popts.quiet = g.quiet || g.json;
  popts.run_ref = util::sh_quote(run.name.empty() ? run.id : run.name);
  auto& out = popts.output;
  out.mode = output.keep_order    ? ui::OutputMode::keep_order
             : output.line_buffer ? ui::OutputMode::line_buffer
             : output.ungroup     ? ui::OutputMode::ungroup
                                  : ui::OutputMode::group;
  // With --json, stdout carries the JSON alone; `muster logs` has the output.
  out.pass_stdout = !output.no_stdout && !g.json;
  out.pass_stderr = !output.no_stderr;
  out.tag = output.tag || !output.tagstring.empty();
  e.stream_output = ui::streams(out.mode);
  e.max_load = output.load;
  if (!output.memfree.empty()) {
    auto bytes = util::parse_bytes(output.memfree);
    if (!bytes) {
      throw Failure{ExitCode::usage, "--memfree: " + bytes.error().message};
    }
    e.min_free_bytes = *bytes;
  }
  e.tag = !output.tagstring.empty() ? output.tagstring : output.tag ? "{}" : "";
  // The live line is drawn over stderr's terminal; when stdout is a pipe,
  // whatever reads it may be writing to that terminal too.
  popts.live = !out.pass_stdout || !ui::is_pipe(STDOUT_FILENO);
  ui::ProgressPrinter printer(popts, ui::Terminal::detect(stderr));
  const auto outcome =
      check(app::run_agent(store, g.store, run, e, printer, lock_waiting(popts.quiet)));
  if (const std::string why = printer.output_error(); !why.empty()) {
    // Never a quiet success with output missing from the stream.
    std::string msg =
        "muster: the jobs' output could not be written to stdout or stderr: " + why +
        "; from then on no job started, and each job's output is kept (muster logs " +
        run.id + " JOB)";
    if (outcome.result.ending == agent::Ending::interrupted) {
      msg += "; muster resume " + run.id + " continues";
    }
    std::fprintf(stderr, "%s\n", msg.c_str());
    return to_int(ExitCode::output_closed);
  }
  if (printer.output_closed() && outcome.result.ending == agent::Ending::interrupted) {
    return to_int(ExitCode::output_closed);
  }
  if (g.json) {
    // The same shape as `muster status --json`.
    const auto after = check(app::run_status(store, run.id));
    std::printf("%s\n",
                ui::dump(ui::run_json(after.run, after.counts, false), 2).c_str());
  }
  return report_ending(store, run, g, outcome, output.exit_code == "count");
}

} // namespace muster::cli
