#include "app/queries.hpp"

#include "app/store.hpp"
#include "store/open.hpp"
#include "util/files.hpp"
#include "util/time.hpp"

#include <sys/stat.h>

namespace muster::app {

util::Result<RunStatus> run_status(store::Store& store, const std::string& ref) {
  auto run = store.find_run(ref);
  if (!run) {
    return run.error();
  }
  auto counts = store.counts(run->rid);
  if (!counts) {
    return counts.error();
  }
  return RunStatus{std::move(*run), *counts};
}

util::Result<std::vector<store::JobRecord>>
jobs(store::Store& store, const std::string& ref, const store::JobFilter& filter) {
  auto run = store.find_run(ref);
  if (!run) {
    return run.error();
  }
  return store.jobs(run->rid, filter);
}

util::Result<JobsView> jobs_view(store::Store& store, const std::string& ref,
                                 const store::JobFilter& filter) {
  auto run = store.find_run(ref);
  if (!run) {
    return run.error();
  }
  JobsView v;
  auto jobs = store.jobs(run->rid, filter);
  if (!jobs) {
    return jobs.error();
  }
  v.jobs = std::move(*jobs);
  auto live = live_agents(store, run->rid);
  if (!live) {
    return live.error();
  }
  v.live_agents = std::move(*live);
  return v;
}

util::Result<std::vector<store::Event>> events(store::Store& store,
                                               const std::string& ref) {
  auto run = store.find_run(ref);
  if (!run) {
    return run.error();
  }
  return store.events(run->rid);
}

util::Result<StatusView> status(store::Store& store, const std::string& location,
                                const std::string& ref, int64_t shown) {
  StatusView v;
  if (ref.empty()) {
    auto latest = store.latest_run();
    if (!latest) {
      return latest.error();
    }
    if (!*latest) {
      return util::Error{"no runs in " + store::shown_location(location),
                         util::ErrorKind::not_found};
    }
    v.run = std::move(**latest);
  } else {
    auto run = store.find_run(ref);
    if (!run) {
      return run.error();
    }
    v.run = std::move(*run);
  }
  auto counts = store.counts(v.run.rid);
  if (!counts) {
    return counts.error();
  }
  v.counts = *counts;
  auto live = live_agents(store, v.run.rid);
  if (!live) {
    return live.error();
  }
  v.live_agents = std::move(*live);
  v.agent_alive = holder_alive(v.run.holder) || !v.live_agents.empty();
  store::JobFilter f;
  f.state = core::JobState::running;
  auto running = store.jobs(v.run.rid, f);
  if (!running) {
    return running.error();
  }
  v.running = std::move(*running);
  if (v.counts[core::JobState::waiting] > 0) {
    f.state = core::JobState::waiting;
    f.limit = shown;
    auto waiting = store.jobs(v.run.rid, f);
    if (!waiting) {
      return waiting.error();
    }
    v.waiting = std::move(*waiting);
  }
  return v;
}

util::Result<std::vector<RunSummary>> list_runs(store::Store& store,
                                                const std::string& state, int64_t limit) {
  auto all = store.list_runs();
  if (!all) {
    return all.error();
  }
  std::vector<RunSummary> runs;
  for (auto& run : *all) {
    if (state.empty() || core::to_string(run.state) == state) {
      runs.push_back(RunSummary{std::move(run), {}, false});
    }
  }
  if (limit >= 0 && static_cast<int64_t>(runs.size()) > limit) {
    runs.erase(runs.begin(), runs.end() - limit); // the newest N, oldest first
  }
  for (auto& r : runs) {
    auto counts = store.counts(r.run.rid);
    if (!counts) {
      return counts.error();
    }
    r.counts = *counts;
    r.agent_alive = holder_alive(r.run.holder);
    if (!r.agent_alive && r.counts[core::JobState::running] > 0) {
      auto live = live_agents(store, r.run.rid); // a joined agent may still run it
      if (!live) {
        return live.error();
      }
      r.agent_alive = !live->empty();
    }
  }
  return runs;
}

util::Result<JobOutput> job_output(store::Store& store, const std::string& location,
                                   const std::string& ref, const std::string& job_id) {
  auto run = store.find_run(ref);
  if (!run) {
    return run.error();
  }
  store::JobFilter filter;
  filter.id = job_id;
  auto jobs = store.jobs(run->rid, filter);
  if (!jobs) {
    return jobs.error();
  }
  if (jobs->empty()) {
    return util::Error{"no job '" + job_id + "' in run " + run->id,
                       util::ErrorKind::not_found};
  }
  const core::RunFiles files = run_files(location, run->id);
  const int64_t seq = jobs->front().seq;
  return JobOutput{*run, jobs->front(), files.job_stdout(seq), files.job_stderr(seq),
                   files.job_file(seq, ".cut")};
}

util::Result<SlotLog> slot_log(store::Store& store, const std::string& location,
                               const std::string& ref, int64_t slot) {
  auto run = store.find_run(ref);
  if (!run) {
    return run.error();
  }
  std::string path = run_files(location, run->id).slot_log(slot);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return util::Error{"no log for slot " + std::to_string(slot) + " of run " + run->id +
                           " (" + path + ")",
                       util::ErrorKind::not_found};
  }
  return SlotLog{std::move(*run), std::move(path)};
}

util::Result<std::vector<store::RunRecord>>
cleanup(store::Store& store, const std::string& location, double days, bool dry_run) {
  const int64_t cutoff = util::now_ms() - static_cast<int64_t>(days * 86'400'000.0);
  auto all = store.list_runs();
  if (!all) {
    return all.error();
  }
  std::vector<store::RunRecord> old;
  for (auto& run : *all) {
    const bool finished =
        core::run_ended(run.state) || run.state == core::RunState::failed;
    // A run an agent still holds is never touched, whatever its state says.
    if (finished && run.updated_at < cutoff && !holder_alive(run.holder)) {
      old.push_back(std::move(run));
    }
  }
  if (!dry_run) {
    for (const auto& run : old) {
      if (auto r = store.delete_run(run.rid); !r) {
        return r.error();
      }
      if (auto r = util::remove_tree(run_files(location, run.id).dir()); !r) {
        return r.error();
      }
    }
  }
  return old;
}

} // namespace muster::app
