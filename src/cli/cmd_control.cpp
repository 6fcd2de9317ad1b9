// Control of a run from any terminal: `muster pause`, `cancel`, `scale` and
// `events`. Requests go through the store; the run's live agent reads them
// within a quarter of a second. Every request is recorded as an event.

#include "cli/common.hpp"
#include "exec/local_runner.hpp"
#include "ui/table.hpp"
#include "ui/views.hpp"
#include "util/time.hpp"

#include <unistd.h>

namespace muster::cli {

namespace {

/// Waits until `done()` or `ms` pass; true when done.
template <typename F> bool wait_for(int64_t ms, F done) {
  const int64_t until = util::monotonic_ms() + ms;
  while (!done()) {
    if (util::monotonic_ms() >= until) {
      return false;
    }
    ::usleep(50'000);
  }
  return true;
}

} // namespace

int cmd_pause(const GlobalOptions& g, const PauseOptions& o) {
  auto store = open_store(g, store::Create::no);
  const auto run = find_run(*store, o.run);
  refuse_ended(run, "pause");
  const auto request =
      o.stop_running ? store::ControlRequest::pause_stop : store::ControlRequest::pause;
  check(store->set_control(run.rid, request, std::nullopt, false,
                           make_event("pause", o.stop_running ? "stop running jobs" : "")));
  const bool alive = holder_alive(run.holder);
  if (!alive) {
    check(store->set_run_state(run.rid, core::RunState::paused));
  } else {
    // The agent acknowledges by setting the run's state.
    wait_for(2000, [&] {
      auto now = store->find_run(run.id);
      return now && now->state == core::RunState::paused;
    });
  }
  if (!g.quiet) {
    std::fprintf(stderr, "muster: run %s paused%s; `muster resume %s` continues it\n",
                 run.id.c_str(),
                 alive ? (": its agent (pid " + std::to_string(run.holder.pid) +
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
  const auto run = find_run(*store, o.run);
  refuse_ended(run, "cancel");
  const auto before = check(store->counts(run.rid));
  if (!o.force) {
    if (!isatty(0) || !isatty(2)) {
      throw Failure{ExitCode::usage, "cancel asks for confirmation on a terminal; give --force "
                                     "to cancel without asking"};
    }
    std::fprintf(stderr, "Cancel run %s: stop %lld running job(s) and cancel %lld unfinished? "
                         "[y/N] ",
                 run.id.c_str(), static_cast<long long>(before[core::JobState::running]),
                 static_cast<long long>(before.total() - before.finished() -
                                        before[core::JobState::running]));
    char answer[16] = {};
    if (!std::fgets(answer, sizeof answer, stdin) || (answer[0] != 'y' && answer[0] != 'Y')) {
      std::fprintf(stderr, "muster: not cancelled\n");
      return to_int(ExitCode::jobs_failed);
    }
  }
  check(store->set_control(run.rid, store::ControlRequest::cancel, std::nullopt, false,
                           make_event("cancel", "")));
  if (holder_alive(run.holder)) {
    // Its agent stops the jobs' process groups, tears down, and cancels the rest.
    const int64_t limit = run.settings.kill_grace_ms + 30'000;
    if (!wait_for(limit, [&] { return !holder_alive(run.holder); })) {
      throw Failure{ExitCode::usage, "run " + run.id + ": its agent (pid " +
                                         std::to_string(run.holder.pid) +
                                         ") did not stop in time"};
    }
  } else {
    // No agent: cancel it here (leftover processes are killed on takeover).
    auto runner = check(exec::LocalRunner::create());
    agent::Reporter quiet;
    agent::Agent agent(*store, *runner, quiet, agent_options(g, run, 0));
    auto result = check(agent.teardown(run.rid, true));
    if (result.ending == agent::Ending::busy) {
      throw Failure{ExitCode::busy, "run " + run.id + " was taken by another muster meanwhile"};
    }
  }
  const auto after = check(store->counts(run.rid));
  if (!g.quiet) {
    std::fprintf(stderr, "muster: run %s cancelled: %lld job(s) cancelled, %lld succeeded\n",
                 run.id.c_str(), static_cast<long long>(after[core::JobState::cancelled]),
                 static_cast<long long>(after[core::JobState::succeeded]));
  }
  return to_int(ExitCode::ok);
}

int cmd_scale(const GlobalOptions& g, const ScaleOptions& o) {
  auto store = open_store(g, store::Create::no);
  const auto run = find_run(*store, o.run);
  refuse_ended(run, "scale");
  if (!holder_alive(run.holder)) {
    throw Failure{ExitCode::usage, "run " + run.id + " has no live agent; `muster resume " +
                                       run.id + " -j " + std::to_string(o.slots) +
                                       "` runs it with that many slots"};
  }
  check(store->set_control(run.rid, std::nullopt, o.slots, false,
                           make_event("scale", "-j " + std::to_string(o.slots))));
  if (!g.quiet) {
    std::fprintf(stderr, "muster: run %s: its agent (pid %lld) goes to %lld slot(s)\n",
                 run.id.c_str(), static_cast<long long>(run.holder.pid),
                 static_cast<long long>(o.slots));
  }
  return to_int(ExitCode::ok);
}

int cmd_events(const GlobalOptions& g, const EventsOptions& o) {
  auto store = open_store(g, store::Create::no);
  const auto run = find_run(*store, o.run);
  const auto events = check(store->events(run.rid));
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
    t.add({util::format_timestamp(e.at).substr(0, 19), e.action, e.detail.empty() ? "-" : e.detail,
           e.user + "@" + e.host + " pid " + std::to_string(e.pid)});
  }
  t.print(stdout);
  return to_int(ExitCode::ok);
}

} // namespace muster::cli
