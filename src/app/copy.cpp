#include "app/copy.hpp"

#include "agent/slot_logs.hpp"
#include "app/store.hpp"
#include "core/run_files.hpp"
#include "store/open.hpp"
#include "util/files.hpp"
#include "util/strings.hpp"

#include <sys/stat.h>
#include <vector>

namespace muster::app {

namespace {

/// Where a job's files are, and whose they are.
struct JobPlace {
  std::string id;
  int64_t seq = 0;
  std::string host;
  int64_t finished_at = 0;
};

/// The tails of the jobs' captured output and of the slots' logs that the
/// run's files on this host hold, as an agent keeps them in a store shared
/// by many hosts.
void tails_from_files(const core::RunFiles& files, const std::vector<JobPlace>& jobs,
                      std::vector<std::pair<std::string, store::StoredOutput>>& outputs,
                      std::vector<store::StoredSlotLog>& logs) {
  const std::string here = this_holder().host;
  const auto size_of = [](const std::string& path) -> int64_t {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) ? st.st_size : 0;
  };
  for (const auto& j : jobs) {
    const std::string out = files.job_stdout(j.seq), err = files.job_stderr(j.seq);
    const int64_t out_bytes = size_of(out), err_bytes = size_of(err);
    if (out_bytes + err_bytes == 0) {
      continue; // as an agent keeps it: a silent job has no row
    }
    outputs.emplace_back(
        j.id, store::StoredOutput{
                  j.host.empty() ? here : j.host,
                  util::valid_utf8(util::read_tail(out, store::k_stored_output_bytes)),
                  util::valid_utf8(util::read_tail(err, store::k_stored_output_bytes)),
                  out_bytes, err_bytes, j.finished_at});
  }
  logs = agent::SlotLogShipper(files.logs_dir(), here).changed();
}

} // namespace

util::Result<Copied> copy_run(const std::string& from, const std::string& ref,
                              const std::string& to) {
  if (store::shown_location(from) == store::shown_location(to)) {
    return util::Error{"--to " + store::shown_location(to) +
                       ": the run is in that store already"};
  }
  auto source = open_store(from, store::Create::no, store::Access::read_only);
  if (!source) {
    return source.error();
  }
  auto run = find_run(**source, ref);
  if (!run) {
    return run.error();
  }
  auto live = live_agents(**source, run->rid);
  if (!live) {
    return live.error();
  }
  if (!live->empty()) {
    return util::Error{"run " + run->id + " is running (" + std::to_string(live->size()) +
                           " live agent(s)); pause it or let it stop, then copy it",
                       util::ErrorKind::busy};
  }
  std::vector<store::JobRecord> jobs;
  if (auto r = (*source)->each_job(run->rid,
                                   [&](const store::JobRecord& j) { jobs.push_back(j); });
      !r) {
    return r.error();
  }
  std::vector<JobPlace> places;
  places.reserve(jobs.size());
  for (const auto& j : jobs) {
    places.push_back({j.id, j.seq, j.host, j.finished_at});
  }
  auto events = (*source)->events(run->rid);
  if (!events) {
    return events.error();
  }
  store::RunRecord copy = *run;
  copy.holder = {};
  if (copy.state == core::RunState::running) {
    copy.state = core::RunState::paused; // its agent is gone: resume goes on
  }
  events->push_back(make_event("copy", "from " + store::shown_location(from)));
  auto target = open_store(to, store::Create::yes);
  if (!target) {
    return target.error();
  }
  size_t next = 0;
  auto r = (*target)->import_run(
      copy,
      [&](store::JobRecord& j) -> util::Result<bool> {
        if (next == jobs.size()) {
          return false;
        }
        j = std::move(jobs[next++]);
        if (j.state == core::JobState::running) {
          // Its agent is gone: held, as `--on-interrupt hold` would, until
          // a resume moves it by the run's on_interrupt.
          j.state = core::JobState::interrupted;
          j.reason.clear();
        }
        return true;
      },
      *events);
  if (!r) {
    return r.error();
  }
  Copied out{copy, static_cast<int64_t>(jobs.size()), false};
  // The captured output, where the other store keeps runs' files.
  const std::string files = run_files(from, run->id).dir();
  struct stat st {};
  if (::stat(files.c_str(), &st) == 0) {
    const std::string dest = run_files(to, run->id).dir();
    if (dest != files) {
      if (auto c = util::copy_tree(files, dest, {}); !c) {
        return util::Error{"run " + run->id +
                               " was copied, but not its files: " + c.error().message,
                           c.error().kind};
      }
      out.files = true;
    }
  }
  // A store shared by many hosts keeps the output's tails, for `muster
  // logs` on any of them: those the other store kept, or else those of the
  // files here.
  if ((*target)->keeps_output()) {
    std::vector<std::pair<std::string, store::StoredOutput>> outputs;
    std::vector<store::StoredSlotLog> logs;
    if ((*source)->keeps_output()) {
      auto o = (*source)->stored_outputs(run->rid);
      auto l = (*source)->stored_slot_logs(run->rid, -1);
      if (!o || !l) {
        return (!o ? o.error() : l.error());
      }
      outputs = std::move(*o);
      logs = std::move(*l);
    } else {
      tails_from_files(run_files(from, run->id), places, outputs, logs);
    }
    auto kept = (*target)->keep_outputs(copy.rid, outputs);
    if (kept) {
      kept = (*target)->keep_slot_logs(copy.rid, logs);
    }
    if (!kept) {
      return util::Error{"run " + run->id + " was copied, but not its output's tails: " +
                             kept.error().message,
                         kept.error().kind};
    }
  }
  return out;
}

} // namespace muster::app
