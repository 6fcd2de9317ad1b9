#include "app/overview.hpp"

#include "app/execute.hpp"
#include "app/locks.hpp"
#include "app/store.hpp"
#include "core/limits.hpp"
#include "core/liveness.hpp"
#include "ui/views.hpp"
#include "util/strings.hpp"
#include "util/time.hpp"
#include "util/timezone.hpp"

#include <algorithm>
#include <csignal>
#include <nlohmann/json.hpp>
#include <set>
#include <unistd.h>

namespace muster::app {

namespace {

constexpr std::string_view k_worker_states[] = {
    "idle", "busy", "starting", "restarting", "failed", "retired", "offline"};

// A slot's reported activity is the WorkerState of the same place.
static_assert(static_cast<int>(WorkerState::idle) ==
              static_cast<int>(store::SlotActivity::idle));
static_assert(static_cast<int>(WorkerState::busy) ==
              static_cast<int>(store::SlotActivity::busy));
static_assert(static_cast<int>(WorkerState::starting) ==
              static_cast<int>(store::SlotActivity::starting));
static_assert(static_cast<int>(WorkerState::restarting) ==
              static_cast<int>(store::SlotActivity::restarting));
static_assert(static_cast<int>(WorkerState::failed) ==
              static_cast<int>(store::SlotActivity::failed));
static_assert(static_cast<int>(WorkerState::retired) ==
              static_cast<int>(store::SlotActivity::retired));

std::string count_of(int64_t n, int64_t of) {
  return std::to_string(n) + "/" + std::to_string(of);
}

std::vector<SlotView> slot_views(const std::vector<store::AgentRecord>& agents,
                                 int64_t now) {
  std::vector<SlotView> out;
  for (const auto& a : agents) {
    if (a.state == store::AgentState::stopped) {
      continue;
    }
    const bool offline = agent_gone(a, now);
    if (a.slot_reports.empty()) {
      // No heartbeat with slots yet: the agent is starting.
      SlotView v;
      v.agent = a;
      v.slot = -1;
      v.state = offline ? WorkerState::offline : WorkerState::starting;
      out.push_back(v);
      continue;
    }
    for (const auto& s : a.slot_reports) {
      SlotView v;
      v.agent = a;
      v.slot = s.slot;
      // The activities are the first words of WorkerState, in its order.
      v.state = offline ? WorkerState::offline : static_cast<WorkerState>(s.activity);
      v.job = s.job;
      v.since = s.since;
      v.sidecar = s.sidecar;
      out.push_back(v);
    }
  }
  return out;
}

WhyReason reason(std::string kind, std::string text) {
  WhyReason r;
  r.kind = std::move(kind);
  r.text = std::move(text);
  return r;
}

// The reason a job's state itself gives for not running now, if any.
void state_reasons(const store::RunRecord& run, const store::JobRecord& job, int64_t now,
                   const std::string& resume, std::vector<WhyReason>& reasons) {
  switch (job.state) {
  case core::JobState::succeeded:
  case core::JobState::failed:
  case core::JobState::skipped:
  case core::JobState::cancelled:
    reasons.push_back(
        reason("finished", "it finished: " + std::string(core::to_string(job.state)) +
                               (job.error.empty() ? "" : " (" + job.error + ")")));
    break;
  case core::JobState::running:
    reasons.push_back(
        reason("running", "it is running in slot " +
                              (job.slot ? std::to_string(*job.slot) : "?") +
                              (job.pid ? ", pid " + std::to_string(*job.pid) : "") +
                              ", for " + ui::job_duration(job, now)));
    break;
  case core::JobState::interrupted:
    reasons.push_back(reason(
        "held", "it was interrupted and is held (on_interrupt = hold): `muster retry " +
                    run.id + " --job " + job.id + "`, then " + resume));
    break;
  case core::JobState::retrying:
    reasons.push_back(
        reason("retrying", "attempt " + std::to_string(job.attempts - job.interrupts) +
                               " failed (" + job.error + "); the next is due " +
                               (job.retry_at > now
                                    ? "in " + util::format_duration(job.retry_at - now) +
                                          ", at " + util::format_clock(job.retry_at)
                                    : "now")));
    reasons.back().until = job.retry_at;
    break;
  case core::JobState::waiting:
    reasons.push_back(
        reason("waiting", job.reason.empty() ? "it waits on a limit" : job.reason));
    reasons.back().until = job.retry_at;
    break;
  case core::JobState::pending:
    break;
  }
}

} // namespace

std::string_view to_string(WorkerState state) {
  return k_worker_states[static_cast<size_t>(state)];
}

std::optional<WorkerState> parse_worker_state(std::string_view text) {
  return util::parse_word<WorkerState>(k_worker_states, text);
}

util::Result<WhyView> why(store::Store& store, const std::string& ref,
                          const std::string& job_id, int64_t now) {
  auto run = find_run(store, ref);
  if (!run) {
    return run.error();
  }
  store::JobFilter f;
  f.id = job_id;
  f.limit = 1;
  auto found = store.jobs(run->rid, f);
  if (!found) {
    return found.error();
  }
  if (found->empty()) {
    return util::Error{"no job '" + job_id + "' in run " + run->id +
                           " (see `muster jobs " + run->id + "`)",
                       util::ErrorKind::not_found};
  }
  WhyView v{std::move(*run), std::move(found->front()), {}, {}};
  const auto& job = v.job;
  const auto& s = v.run.settings;
  auto& reasons = v.reasons;
  auto& notes = v.notes;
  const std::string resume =
      "`muster resume " + (v.run.name.empty() ? v.run.id : v.run.name) + "`";
  state_reasons(v.run, job, now, resume, reasons);
  const bool unfinished =
      !core::is_terminal(job.state) && job.state != core::JobState::running;
  if (unfinished) {
    if (v.run.resume_at > now) {
      reasons.push_back(reason(
          "halted", "the run is halted until " + util::format_clock(v.run.resume_at) +
                        " (" + util::format_duration(v.run.resume_at - now) +
                        " left): " + v.run.halt_reason));
      reasons.back().until = v.run.resume_at;
    }
    auto agents = store.agents(v.run.rid);
    if (!agents) {
      return agents.error();
    }
    for (const auto& a : *agents) {
      if (a.state != store::AgentState::running || agent_gone(a, now)) {
        continue;
      }
      for (const auto& slot : a.slot_reports) {
        if (!slot.held.empty()) {
          // --load or --memfree of that agent: one reason for all its slots.
          reasons.push_back(
              reason("machine", "the agent pid " + std::to_string(a.who.pid) + " on " +
                                    a.who.host + " starts no new job: " + slot.held));
          break;
        }
      }
    }
    if (!holder_alive(v.run.holder)) {
      reasons.push_back(
          reason("no_agent", "no muster runs this run now: " + resume + " runs it"));
    }
  }
  // What holds the job back now; for a waiting job, the first one takes the
  // place of the reason it recorded when it began to wait.
  bool replaced = false;
  const auto add_hold = [&](WhyReason why) {
    auto waiting = std::find_if(reasons.begin(), reasons.end(),
                                [](const WhyReason& r) { return r.kind == "waiting"; });
    if (!replaced && waiting != reasons.end()) {
      *waiting = std::move(why);
      replaced = true;
    } else {
      reasons.push_back(std::move(why));
    }
  };
  if (!job.key.empty() && (s.limits.per_key > 0 || s.limits.per_key_daily > 0)) {
    auto zone = util::TimeZone::load(s.limits.timezone);
    if (!zone) {
      return zone.error();
    }
    const auto window = core::day_window(now, s.limits.day_start_min, *zone);
    auto use = store.key_usage(v.run.rid, job.key, s.limits.scope, window.start_ms);
    if (!use) {
      return use.error();
    }
    if (s.limits.per_key > 0) {
      notes.push_back("key " + job.key + ": " + count_of(use->running, s.limits.per_key) +
                      " running");
    }
    if (s.limits.per_key_daily > 0) {
      const int64_t used = core::daily_used(s.limits, *use);
      notes.push_back("key " + job.key + ": " + count_of(used, s.limits.per_key_daily) +
                      " " + std::string(core::to_string(s.limits.count)) +
                      " in the window until " +
                      core::format_in_zone(window.end_ms, *zone));
    }
    // The key's running jobs hold it, whether or not a limit is reached now.
    std::vector<std::string> holders;
    auto r = store.each_job(v.run.rid, [&](const store::JobRecord& other) {
      if (other.state == core::JobState::running && other.key == job.key &&
          other.id != job.id) {
        holders.push_back("job " + other.id);
      }
    });
    if (!r) {
      return r.error();
    }
    if (!holders.empty()) {
      notes.push_back("key " + job.key + " is used by " + util::join(holders, ", "));
    }
    for (const auto& hold : core::key_holds(s.limits, job.key, *use, window, *zone)) {
      if (unfinished) {
        const bool running = hold.kind == core::Hold::Kind::key_running;
        WhyReason why{running ? "key_running" : "key_daily",
                      hold.reason,
                      job.key,
                      hold.used,
                      hold.limit,
                      hold.until,
                      {}};
        if (running) {
          why.holders = holders;
        }
        add_hold(std::move(why));
      }
    }
  }
  if (!job.locks.empty()) {
    auto locks = store.locks();
    if (!locks) {
      return locks.error();
    }
    for (const auto& name : job.locks) {
      std::optional<store::LockRecord> held;
      for (auto& l : *locks) {
        if (l.name == name) {
          held = l;
        }
      }
      notes.push_back("lock " + name + ": " + (held ? "held" : "free"));
      if (unfinished && held) {
        WhyReason why = reason("lock", describe_lock(*held));
        why.holders.push_back(
            !held->owner.empty()
                ? held->owner
                : "run " + held->run_id +
                      (held->job_id.empty() ? "" : " job " + held->job_id));
        add_hold(std::move(why));
      }
    }
  }
  if (!s.limits.rate.empty()) {
    notes.push_back("the run starts at most " + s.limits.rate);
  }
  if (job.state == core::JobState::pending && reasons.empty()) {
    int64_t ahead = 0;
    auto r = store.each_job(v.run.rid, [&](const store::JobRecord& other) {
      if (other.state == core::JobState::pending &&
          (other.priority > job.priority ||
           (other.priority == job.priority && other.seq < job.seq))) {
        ++ahead;
      }
    });
    if (!r) {
      return r.error();
    }
    reasons.push_back(reason("queued", "nothing holds it back; " + std::to_string(ahead) +
                                           " pending job(s) go first"));
    reasons.back().count = ahead;
  }
  return v;
}

util::Result<std::vector<SlotView>> workers(store::Store& store, const std::string& ref,
                                            std::optional<WorkerState> state, int64_t now,
                                            bool all) {
  int64_t rid = 0;
  if (!ref.empty()) {
    auto run = find_run(store, ref);
    if (!run) {
      return run.error();
    }
    rid = run->rid;
  }
  auto agents = store.agents(rid);
  if (!agents) {
    return agents.error();
  }
  if (!all && rid == 0) {
    // The agents of ended runs are history: shown with --all, or for that run.
    auto runs = store.list_runs();
    if (!runs) {
      return runs.error();
    }
    std::set<int64_t> ended;
    for (const auto& r : *runs) {
      if (core::run_ended(r.state)) {
        ended.insert(r.rid);
      }
    }
    std::erase_if(*agents,
                  [&](const store::AgentRecord& a) { return ended.count(a.rid); });
  }
  std::vector<SlotView> views;
  for (auto& v : slot_views(*agents, now)) {
    if (!state || v.state == *state ||
        (*state == WorkerState::starting && v.state == WorkerState::restarting)) {
      views.push_back(std::move(v));
    }
  }
  return views;
}

util::Result<StoreSummary> summary(store::Store& store, int64_t now) {
  auto agents = store.agents(0);
  if (!agents) {
    return agents.error();
  }
  StoreSummary out;
  for (const auto& v : slot_views(*agents, now)) {
    switch (v.state) {
    case WorkerState::busy:
      ++out.busy;
      break;
    case WorkerState::idle:
      ++out.idle;
      break;
    case WorkerState::offline:
      ++out.offline;
      break;
    case WorkerState::starting:
    case WorkerState::restarting:
      ++out.starting;
      break;
    case WorkerState::failed:
    case WorkerState::retired:
      break;
    }
  }
  auto runs = store.list_runs();
  if (!runs) {
    return runs.error();
  }
  for (const auto& run : *runs) {
    if (holder_alive(run.holder)) {
      ++out.active_runs;
    }
    auto c = store.counts(run.rid);
    if (!c) {
      return c.error();
    }
    for (size_t i = 0; i < std::size(out.jobs.by_state); ++i) {
      out.jobs.by_state[i] += c->by_state[i];
    }
  }
  out.total_runs = static_cast<int64_t>(runs->size());
  using S = core::JobState;
  out.queued = out.jobs[S::pending] + out.jobs[S::retrying] + out.jobs[S::waiting];
  out.utilisation = out.idle + out.busy > 0 ? static_cast<double>(out.busy) /
                                                  static_cast<double>(out.idle + out.busy)
                                            : 0.0;
  return out;
}

util::Result<std::vector<StopAction>>
stop_all(store::Store& store, const std::string& location,
         const std::function<void(const StopAction&)>& done) {
  std::vector<StopAction> actions;
  const auto record = [&](StopAction::Kind kind, const store::RunRecord& run) {
    actions.push_back(StopAction{kind, run});
    if (done) {
      done(actions.back());
    }
  };
  auto runs = store.list_runs();
  if (!runs) {
    return runs.error();
  }
  const std::string host = this_holder().host;
  std::vector<int64_t> signalled; // the holders' pids
  for (const auto& run : *runs) {
    if (run.holder.empty()) {
      continue;
    }
    if (holder_alive(run.holder)) {
      if (run.holder.host != host) {
        record(StopAction::Kind::elsewhere, run);
        continue;
      }
      // SIGTERM is the drain signal: no new claims, running jobs get --grace.
      ::kill(static_cast<pid_t>(run.holder.pid), SIGTERM);
      signalled.push_back(run.holder.pid);
      record(StopAction::Kind::drained_run, run);
    } else if (run.settings.slot.any()) {
      // Its agent died: nothing else will run its teardown hooks.
      if (auto r = teardown(store, location, run, false); !r) {
        return r.error();
      }
      record(StopAction::Kind::torn_down, run);
    }
  }
  // Agents that joined a run drain too.
  auto agents = store.agents(0);
  if (!agents) {
    return agents.error();
  }
  for (const auto& a : *agents) {
    if (a.state != store::AgentState::running || a.who.host != host ||
        !holder_alive(a.who)) {
      continue;
    }
    if (std::find(signalled.begin(), signalled.end(), a.who.pid) != signalled.end()) {
      continue;
    }
    ::kill(static_cast<pid_t>(a.who.pid), SIGTERM);
    signalled.push_back(a.who.pid);
    store::RunRecord joined;
    joined.id = a.run_id;
    joined.holder = a.who;
    joined.settings.grace_ms = 30'000;
    joined.settings.kill_grace_ms = 10'000;
    record(StopAction::Kind::drained_agent, joined);
  }
  return actions;
}

std::optional<StopAction> wait_stopped(const std::vector<StopAction>& actions) {
  // Their drain and teardown take a while.
  for (const auto& a : actions) {
    if (a.kind != StopAction::Kind::drained_run &&
        a.kind != StopAction::Kind::drained_agent) {
      continue;
    }
    const auto& run = a.run;
    const int64_t until = util::monotonic_ms() + run.settings.grace_ms +
                          2 * run.settings.kill_grace_ms + 30'000;
    while (holder_alive(run.holder) && util::monotonic_ms() < until) {
      usleep(100'000);
    }
    if (holder_alive(run.holder)) {
      return a;
    }
  }
  return std::nullopt;
}

} // namespace muster::app
