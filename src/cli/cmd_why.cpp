// `muster why RUN JOB`: why a job is not running now. It reads the job, the
// run's halt, its agent, the key's use of each limit and the job's lock, and
// says each thing that holds the job back.

#include "cli/common.hpp"
#include "core/limits.hpp"
#include "ui/views.hpp"
#include "util/time.hpp"
#include "util/timezone.hpp"

namespace muster::cli {

namespace {

std::string count_of(int64_t n, int64_t of) { return std::to_string(n) + "/" + std::to_string(of); }

} // namespace

int cmd_why(const GlobalOptions& g, const WhyOptions& o) {
  auto store = open_store(g, store::Create::no);
  const auto run = find_run(*store, o.run);
  store::JobFilter f;
  f.id = o.job;
  f.limit = 1;
  const auto found = check(store->jobs(run.rid, f));
  if (found.empty()) {
    throw Failure{ExitCode::usage, "no job '" + o.job + "' in run " + run.id +
                                       " (see `muster jobs " + run.id + "`)"};
  }
  const auto& job = found.front();
  const int64_t now = util::now_ms();
  const auto& s = run.settings;
  std::vector<std::string> reasons; // what holds it back now
  std::vector<std::string> notes;   // what applies to it
  const std::string resume = "`muster resume " + (run.name.empty() ? run.id : run.name) + "`";
  switch (job.state) {
  case core::JobState::succeeded:
  case core::JobState::failed:
  case core::JobState::skipped:
  case core::JobState::cancelled:
    reasons.push_back("it finished: " + std::string(core::to_string(job.state)) +
                      (job.error.empty() ? "" : " (" + job.error + ")"));
    break;
  case core::JobState::running:
    reasons.push_back("it is running in slot " + (job.slot ? std::to_string(*job.slot) : "?") +
                      (job.pid ? ", pid " + std::to_string(*job.pid) : "") + ", for " +
                      ui::job_duration(job, now));
    break;
  case core::JobState::interrupted:
    reasons.push_back("it was interrupted and is held (on_interrupt = hold): `muster retry " +
                      run.id + " --job " + job.id + "`, then " + resume);
    break;
  case core::JobState::retrying:
    reasons.push_back("attempt " + std::to_string(job.attempts - job.interrupts) + " failed (" +
                      job.error + "); the next is due " +
                      (job.retry_at > now ? "in " + util::format_duration(job.retry_at - now) +
                                                ", at " + util::format_clock(job.retry_at)
                                          : "now"));
    break;
  case core::JobState::waiting:
    reasons.push_back(job.reason.empty() ? "it waits on a limit" : job.reason);
    break;
  case core::JobState::pending:
    break;
  }
  const bool unfinished = !core::is_terminal(job.state) && job.state != core::JobState::running;
  if (unfinished) {
    if (run.resume_at > now) {
      reasons.push_back("the run is halted until " + util::format_clock(run.resume_at) + " (" +
                        util::format_duration(run.resume_at - now) + " left): " + run.halt_reason);
    }
    if (!app::holder_alive(run.holder)) {
      reasons.push_back("no muster runs this run now: " + resume + " runs it");
    }
  }
  if (!job.key.empty() && (s.limits.per_key > 0 || s.limits.per_key_daily > 0)) {
    const auto zone = check(util::TimeZone::load(s.limits.timezone));
    const auto window = core::day_window(now, s.limits.day_start_min, zone);
    const auto use = check(store->key_usage(run.rid, job.key, window.start_ms));
    if (s.limits.per_key > 0) {
      notes.push_back("key " + job.key + ": " + count_of(use.running, s.limits.per_key) +
                      " running");
    }
    if (s.limits.per_key_daily > 0) {
      const int64_t used = core::daily_used(s.limits, use);
      notes.push_back("key " + job.key + ": " + count_of(used, s.limits.per_key_daily) + " " +
                      std::string(core::to_string(s.limits.count)) + " in the window until " +
                      core::format_in_zone(window.end_ms, zone));
    }
    for (const auto& hold : core::key_holds(s.limits, job.key, use, window, zone)) {
      if (unfinished && job.state != core::JobState::waiting) {
        reasons.push_back(hold.reason);
      }
    }
  }
  if (!job.lock.empty()) {
    std::optional<store::LockRecord> held;
    for (auto& l : check(store->locks())) {
      if (l.name == job.lock) {
        held = l;
      }
    }
    notes.push_back("lock " + job.lock + ": " + (held ? "held" : "free"));
    if (unfinished && held && job.state != core::JobState::waiting) {
      reasons.push_back(app::describe_lock(*held));
    }
  }
  if (!s.limits.rate.empty()) {
    notes.push_back("the run starts at most " + s.limits.rate);
  }
  if (job.state == core::JobState::pending && reasons.empty()) {
    int64_t ahead = 0;
    check(store->each_job(run.rid, [&](const store::JobRecord& other) {
      if (other.state == core::JobState::pending &&
          (other.priority > job.priority ||
           (other.priority == job.priority && other.seq < job.seq))) {
        ++ahead;
      }
    }));
    reasons.push_back("nothing holds it back; " + std::to_string(ahead) +
                      " pending job(s) go first");
  }
  if (g.json) {
    nlohmann::ordered_json j = ui::job_json(job);
    j["run"] = run.id;
    j["why"] = reasons;
    j["limits"] = notes;
    std::printf("%s\n", ui::dump(j, 2).c_str());
    return to_int(ExitCode::ok);
  }
  std::printf("job %s of run %s: %s\n", job.id.c_str(), run.id.c_str(),
              std::string(core::to_string(job.state)).c_str());
  for (const auto& r : reasons) {
    std::printf("  - %s\n", r.c_str());
  }
  for (const auto& n : notes) {
    std::printf("  %s\n", n.c_str());
  }
  return to_int(ExitCode::ok);
}

} // namespace muster::cli
