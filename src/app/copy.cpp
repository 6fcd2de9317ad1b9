#include "app/copy.hpp"

#include "agent/slot_logs.hpp"
#include "app/store.hpp"
#include "core/run_files.hpp"
#include "store/open.hpp"
#include "util/files.hpp"
#include "util/strings.hpp"

#include <optional>
#include <sys/stat.h>
#include <vector>

namespace muster::app {

namespace {

/// What a store shared by many hosts keeps of a run's output.
struct Tails {
  std::vector<std::pair<std::string, store::StoredOutput>> outputs; ///< by job id
  std::vector<store::StoredSlotLog> logs;
};

/// The tails of the jobs' captured output and of the slots' logs that the
/// run's files on this host hold, as an agent keeps them in a store shared
/// by many hosts.
Tails tails_from_files(const core::RunFiles& files,
                       const std::vector<store::JobRecord>& jobs) {
  Tails tails;
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
    tails.outputs.emplace_back(
        j.id, store::StoredOutput{
                  j.host.empty() ? here : j.host,
                  util::valid_utf8(util::read_tail(out, store::k_stored_output_bytes)),
                  util::valid_utf8(util::read_tail(err, store::k_stored_output_bytes)),
                  out_bytes, err_bytes, j.finished_at});
  }
  tails.logs = agent::SlotLogShipper(files.logs_dir(), here).changed();
  return tails;
}

/// The tails the store at `from` kept of run `rid`'s output.
util::Result<Tails> stored_tails(store::Store& from, int64_t rid) {
  auto outputs = from.stored_outputs(rid);
  if (!outputs) {
    return outputs.error();
  }
  auto logs = from.stored_slot_logs(rid, -1);
  if (!logs) {
    return logs.error();
  }
  return Tails{std::move(*outputs), std::move(*logs)};
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
  // A store shared by many hosts keeps the output's tails, for `muster
  // logs` on any of them: those the other store kept, or else those of the
  // files here (read now, while the jobs are at hand).
  std::optional<Tails> tails;
  if ((*target)->keeps_output()) {
    auto t = (*source)->keeps_output() ? stored_tails(**source, run->rid)
                                       : tails_from_files(run_files(from, run->id), jobs);
    if (!t) {
      return t.error();
    }
    tails = std::move(*t);
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
  if (tails) {
    auto kept = (*target)->keep_outputs(copy.rid, tails->outputs);
    if (kept) {
      kept = (*target)->keep_slot_logs(copy.rid, tails->logs);
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
