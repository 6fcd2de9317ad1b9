#include "app/control.hpp"

#include "app/store.hpp"
#include "util/strings.hpp"
#include "util/time.hpp"

#include <unistd.h>

namespace muster::app {

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

/// The run named by `ref`, refused when it has ended.
util::Result<store::RunRecord> live_run(store::Store& store, const std::string& ref,
                                        const std::string& what) {
  auto run = store.find_run(ref);
  if (!run) {
    return run;
  }
  if (auto r = refuse_ended(*run, what); !r) {
    return r.error();
  }
  return run;
}

} // namespace

util::Result<Controlled> pause(store::Store& store, const std::string& ref,
                               bool stop_running) {
  auto run = live_run(store, ref, "pause");
  if (!run) {
    return run.error();
  }
  store::ControlChange change;
  change.request =
      stop_running ? store::ControlRequest::pause_stop : store::ControlRequest::pause;
  const bool alive = holder_alive(run->holder);
  if (!alive) {
    change.state = core::RunState::paused; // no agent to say so
  }
  if (auto r = store.set_control(
          run->rid, change, make_event("pause", stop_running ? "stop running jobs" : ""));
      !r) {
    return r.error();
  }
  if (alive) {
    // The agent acknowledges by setting the run's state.
    wait_for(2000, [&] {
      auto now = store.find_run(run->id);
      return now && now->state == core::RunState::paused;
    });
  }
  return Controlled{*run, alive};
}

namespace {

/// The runs of the store that have not ended and that a live agent runs.
util::Result<std::vector<store::RunRecord>> live_runs(store::Store& store) {
  auto runs = store.list_runs();
  if (!runs) {
    return runs.error();
  }
  std::erase_if(*runs, [](const store::RunRecord& r) {
    return core::run_ended(r.state) || !holder_alive(r.holder);
  });
  return runs;
}

} // namespace

util::Result<std::vector<Controlled>> pause_all(store::Store& store, bool stop_running) {
  auto runs = live_runs(store);
  if (!runs) {
    return runs.error();
  }
  std::vector<Controlled> out;
  for (const auto& r : *runs) {
    auto paused = pause(store, r.id, stop_running);
    if (!paused) {
      return paused.error();
    }
    out.push_back(std::move(*paused));
  }
  return out;
}

util::Result<std::vector<Controlled>> resume_all(store::Store& store, int64_t slots,
                                                 bool now) {
  auto runs = live_runs(store);
  if (!runs) {
    return runs.error();
  }
  std::vector<Controlled> out;
  for (const auto& r : *runs) {
    auto control = store.control(r.rid);
    if (!control) {
      return control.error();
    }
    const bool paused = control->request == store::ControlRequest::pause ||
                        control->request == store::ControlRequest::pause_stop;
    if (!paused && !now) {
      continue;
    }
    auto resumed = resume(store, r.id, slots, now);
    if (!resumed) {
      return resumed.error();
    }
    out.push_back(std::move(*resumed));
  }
  return out;
}

util::Result<Controlled> resume(store::Store& store, const std::string& ref,
                                int64_t slots, bool now) {
  auto run = store.find_run(ref);
  if (!run) {
    return run.error();
  }
  const auto control = store.control(run->rid);
  if (!control) {
    return control.error();
  }
  std::string detail = slots > 0 ? "-j " + std::to_string(slots) : "";
  if (now) {
    detail += std::string(detail.empty() ? "" : " ") + "--now";
  }
  if (holder_alive(run->holder)) {
    // A live agent continues: it reads the cleared pause within a moment.
    store::ControlChange change;
    change.request = store::ControlRequest::none;
    change.target_slots = slots > 0 ? std::optional<int64_t>(slots) : std::nullopt;
    change.lift_halt = now;
    if (auto r = store.set_control(run->rid, change, make_event("resume", detail)); !r) {
      return r.error();
    }
    return Controlled{*run, true};
  }
  if (control->request == store::ControlRequest::cancel) {
    if (run->state == core::RunState::cancelled) {
      return util::Error{"run " + run->id + " was cancelled"};
    }
    // A cancel that did not finish (its agent died during it) is not undone.
    return util::Error{"run " + run->id +
                       " is being cancelled, but the cancel did not finish; `muster "
                       "cancel " +
                       run->id + " --force` finishes it"};
  }
  if (control->request != store::ControlRequest::none || now) {
    store::ControlChange change;
    change.request = store::ControlRequest::none;
    change.lift_halt = now;
    if (auto r = store.set_control(run->rid, change, make_event("resume", detail)); !r) {
      return r.error();
    }
    run = store.find_run(run->id);
    if (!run) {
      return run.error();
    }
  }
  return Controlled{*run, false};
}

util::Result<store::RunRecord> join(store::Store& store, const std::string& ref,
                                    int64_t slots) {
  auto run = live_run(store, ref, "join");
  if (!run) {
    return run;
  }
  if (auto r = store.add_event(
          run->rid, make_event("join", slots > 0 ? "-j " + std::to_string(slots) : ""));
      !r) {
    return r.error();
  }
  return run;
}

util::Result<Cancelled> cancel(store::Store& store, const std::string& location,
                               const std::string& ref, const ConfirmCancel& confirm) {
  auto run = live_run(store, ref, "cancel");
  if (!run) {
    return run.error();
  }
  Cancelled out{*run};
  auto before = store.counts(run->rid);
  if (!before) {
    return before.error();
  }
  if (confirm) {
    auto yes = confirm(*run, *before);
    if (!yes) {
      return yes.error();
    }
    if (!*yes) {
      return out;
    }
  }
  store::ControlChange change;
  change.request = store::ControlRequest::cancel;
  if (auto r = store.set_control(run->rid, change, make_event("cancel", "")); !r) {
    return r.error();
  }
  // Done only when the run says cancelled. A live agent does it; when it
  // dies first (or there is none), this process finishes the cancel. Another
  // muster that takes the run meanwhile sees the request and cancels it.
  for (int round = 0; round < 3; ++round) {
    auto now = store.find_run(run->id);
    if (!now) {
      return now.error();
    }
    if (now->state == core::RunState::cancelled) {
      break;
    }
    if (holder_alive(now->holder)) {
      // Its agent stops the jobs' process groups, tears down, and cancels the rest.
      const int64_t limit = now->settings.kill_grace_ms + 30'000;
      const auto holder = now->holder;
      if (!wait_for(limit, [&] { return !holder_alive(holder); })) {
        return util::Error{"run " + run->id + ": its agent (pid " +
                           std::to_string(holder.pid) + ") did not stop in time"};
      }
      out.agent_pid = holder.pid;
      continue; // it ended: cancelled, or it died during the cancel
    }
    // No live agent: cancel it here (leftover processes are killed on takeover).
    out.finished_here = true;
    auto result = teardown(store, location, *now, true);
    if (!result) {
      return result.error();
    }
  }
  auto final = store.find_run(run->id);
  if (!final) {
    return final.error();
  }
  if (final->state != core::RunState::cancelled) {
    return util::Error{
        "run " + run->id + " is still " + std::string(core::to_string(final->state)) +
        ": another muster holds it (pid " + std::to_string(final->holder.pid) +
        "); it cancels the run at its next turn"};
  }
  auto after = store.counts(run->rid);
  if (!after) {
    return after.error();
  }
  out.run = *final;
  out.cancelled = true;
  out.after = *after;
  return out;
}

util::Result<Controlled> scale(store::Store& store, const std::string& ref,
                               int64_t slots) {
  auto run = live_run(store, ref, "scale");
  if (!run) {
    return run.error();
  }
  if (!holder_alive(run->holder)) {
    return util::Error{"run " + run->id + " has no live agent; `muster resume " +
                       run->id + " -j " + std::to_string(slots) +
                       "` runs it with that many slots"};
  }
  store::ControlChange change;
  change.target_slots = slots;
  if (auto r = store.set_control(run->rid, change,
                                 make_event("scale", "-j " + std::to_string(slots)));
      !r) {
    return r.error();
  }
  return Controlled{*run, true};
}

util::Result<Added> add_jobs(store::Store& store, const std::string& ref,
                             const RunInputs& inputs) {
  auto run = store.find_run(ref);
  if (!run) {
    return run.error();
  }
  if (run->state == core::RunState::cancelled) {
    return util::Error{"run " + run->id + " was cancelled: start a new run instead"};
  }
  auto templates = JobTemplates::parse(run->settings);
  if (!templates) {
    return templates.error();
  }
  auto rows = open_rows(inputs.files, inputs.format, inputs.json_path, {});
  if (!rows) {
    return rows.error();
  }
  JobSource source(*templates, std::move(*rows), run->total);
  if (source.columns() != run->columns) {
    return util::Error{
        "--input " + util::join(source.labels(), ", ") + ": its fields (" +
        (source.columns().empty() ? "none named" : util::join(source.columns(), ", ")) +
        ") differ from the run's (" +
        (run->columns.empty() ? "none named" : util::join(run->columns, ", ")) + ")"};
  }
  if (auto r = source.check_fields(); !r) {
    return r.error();
  }
  const std::string from = util::join(source.labels(), ", ");
  auto added = store.add_jobs(
      run->rid, [&](store::NewJob& job) { return source.next(job); },
      [&](int64_t n) {
        return make_event("add", std::to_string(n) + " job(s) from " + from);
      });
  if (!added) {
    return util::Error{added.error().message + " (nothing was added)",
                       added.error().kind};
  }
  return Added{Controlled{*run, holder_alive(run->holder)}, *added};
}

util::Result<Retried> retry(store::Store& store, const std::string& ref,
                            store::RetrySelection sel) {
  auto run = store.find_run(ref);
  if (!run) {
    return run.error();
  }
  if (!sel.job_id && !sel.failed && !sel.interrupted) {
    sel.failed = sel.interrupted = true;
  }
  std::string which = sel.job_id ? "job " + *sel.job_id : "";
  if (!sel.job_id) {
    which = sel.failed && sel.interrupted ? "failed and interrupted"
            : sel.failed                  ? "failed"
                                          : "interrupted";
  }
  auto moved = store.retry(run->rid, sel, [&](int64_t n) {
    return make_event("retry", std::to_string(n) + " job(s): " + which);
  });
  if (!moved) {
    return moved.error();
  }
  return Retried{Controlled{*run, holder_alive(run->holder)}, *moved};
}

} // namespace muster::app
