// Control of a run from any terminal: `muster pause`, `cancel`, `scale` and
// `events`. Requests go through the store; the run's live agent reads them
// within a quarter of a second. Every request is recorded as an event.

#include "app/control.hpp"
#include "app/queries.hpp"
#include "cli/common.hpp"
#include "ui/table.hpp"
#include "ui/views.hpp"
#include "util/time.hpp"

#include <unistd.h>

namespace muster::cli {

namespace {

/// Asks on the terminal whether to cancel; without one, --force is needed.
util::Result<bool> ask_to_cancel(const store::RunRecord& run,
                                 const core::Counts& before) {
  if (!isatty(0) || !isatty(2)) {
    return util::Error{"cancel asks for confirmation on a terminal; give --force "
                       "to cancel without asking"};
  }
  std::fprintf(stderr,
               "Cancel run %s: stop %lld running job(s) and cancel %lld unfinished? "
               "[y/N] ",
               run.id.c_str(), static_cast<long long>(before[core::JobState::running]),
               static_cast<long long>(before.total() - before.finished() -
                                      before[core::JobState::running]));
  char answer[16] = {};
  return std::fgets(answer, sizeof answer, stdin) &&
         (answer[0] == 'y' || answer[0] == 'Y');
}

} // namespace

int cmd_pause(const GlobalOptions& g, const PauseOptions& o) {
  if (o.run.empty() && !o.all) {
    throw Failure{ExitCode::usage, "pause: give a RUN (id, prefix or name), or --all"};
  }
  auto store = open_store(g, store::Create::no);
  if (o.all) {
    const auto paused = check(app::pause_all(*store, o.stop_running));
    if (!g.quiet) {
      std::string ids;
      for (const auto& p : paused) {
        ids += " " + p.run.id;
      }
      std::fprintf(stderr, "muster: paused %zu live run(s)%s%s\n", paused.size(),
                   ids.empty() ? "" : ":", ids.c_str());
    }
    return to_int(ExitCode::ok);
  }
  const auto paused = check(app::pause(*store, o.run, o.stop_running));
  const auto& run = paused.run;
  if (!g.quiet) {
    std::fprintf(stderr, "muster: run %s paused%s; `muster resume %s` continues it\n",
                 run.id.c_str(),
                 paused.agent_alive
                     ? (": its agent (pid " + std::to_string(run.holder.pid) +
                        ") takes no new jobs" +
                        (o.stop_running ? " and stops the running ones" : ""))
                           .c_str()
                     : "",
                 run.id.c_str());
  }
  return to_int(ExitCode::ok);
}

int cmd_cancel(const GlobalOptions& g, const CancelOptions& o) {
  auto store = open_store(g, store::Create::no);
  const auto done = check(app::cancel(*store, g.store, o.run,
                                      o.force ? app::ConfirmCancel() : ask_to_cancel));
  if (!done.cancelled) {
    std::fprintf(stderr, "muster: not cancelled\n");
    return to_int(ExitCode::jobs_failed);
  }
  if (!g.quiet) {
    std::string how;
    if (done.finished_here && done.agent_pid > 0) {
      how = " (its agent, pid " + std::to_string(done.agent_pid) +
            ", died during the cancel; this muster finished it)";
    } else if (done.finished_here) {
      how = " (it had no live agent; this muster stopped it)";
    }
    std::fprintf(stderr,
                 "muster: run %s cancelled%s: %lld job(s) cancelled, %lld succeeded\n",
                 done.run.id.c_str(), how.c_str(),
                 static_cast<long long>(done.after[core::JobState::cancelled]),
                 static_cast<long long>(done.after[core::JobState::succeeded]));
  }
  return to_int(ExitCode::ok);
}

int cmd_scale(const GlobalOptions& g, const ScaleOptions& o) {
  auto store = open_store(g, store::Create::no);
  const auto run = check(app::scale(*store, o.run, o.slots)).run;
  if (!g.quiet) {
    std::fprintf(stderr, "muster: run %s: its agent (pid %lld) goes to %lld slot(s)\n",
                 run.id.c_str(), static_cast<long long>(run.holder.pid),
                 static_cast<long long>(o.slots));
  }
  return to_int(ExitCode::ok);
}

int cmd_events(const GlobalOptions& g, const EventsOptions& o) {
  auto store = open_store(g, store::Create::no, store::Access::read_only);
  const auto events = check(app::events(*store, o.run));
  if (g.json) {
    auto arr = nlohmann::ordered_json::array();
    for (const auto& e : events) {
      arr.push_back({{"at", util::format_timestamp(e.at)},
                     {"action", e.action},
                     {"detail", e.detail},
                     {"user", e.user},
                     {"host", e.host},
                     {"pid", e.pid}});
    }
    std::printf("%s\n", ui::dump(arr, 2).c_str());
    return to_int(ExitCode::ok);
  }
  ui::Table t({"TIME", "ACTION", "DETAIL", "BY"});
  for (const auto& e : events) {
    t.add({util::format_timestamp(e.at).substr(0, 19), e.action,
           e.detail.empty() ? "-" : e.detail,
           e.user + "@" + e.host + " pid " + std::to_string(e.pid)});
  }
  t.print(stdout);
  return to_int(ExitCode::ok);
}

} // namespace muster::cli
