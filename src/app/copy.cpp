#include "app/copy.hpp"

#include "app/store.hpp"
#include "core/run_files.hpp"
#include "store/open.hpp"
#include "util/files.hpp"

#include <sys/stat.h>
#include <vector>

namespace muster::app {

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
  return out;
}

} // namespace muster::app
