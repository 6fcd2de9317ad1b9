// `muster jobs` and `muster logs`: a run's jobs and one job's output.

#include "app/queries.hpp"
#include "cli/common.hpp"
#include "ui/table.hpp"
#include "ui/views.hpp"
#include "util/fd.hpp"
#include "util/files.hpp"
#include "util/time.hpp"

#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <fcntl.h>
#include <functional>
#include <thread>
#include <unistd.h>

namespace muster::cli {

namespace {

/// The attempts that did not count, as the ATTEMPTS column adds them:
/// " +2 halted +1 interrupted".
std::string uncounted(const store::JobRecord& j) {
  std::string s;
  if (j.halts > 0) {
    s += " +" + std::to_string(j.halts) + " halted";
  }
  if (j.interrupts > j.halts) {
    s += " +" + std::to_string(j.interrupts - j.halts) + " interrupted";
  }
  return s;
}

} // namespace

int cmd_jobs(const GlobalOptions& g, const JobsOptions& o) {
  auto store = open_store(g, store::Create::no, store::Access::read_only);
  auto run = find_run(*store, o.run);
  store::JobFilter filter;
  filter.limit = o.limit;
  if (!o.state.empty()) {
    filter.state = core::parse_job_state(o.state);
    if (!filter.state) {
      throw Failure{ExitCode::usage,
                    "--state " + o.state +
                        ": expected one of pending, running, "
                        "succeeded, failed, retrying, waiting, interrupted, "
                        "skipped, cancelled"};
    }
  }
  const auto view = check(app::jobs_view(*store, run.id, filter));
  const auto& jobs = view.jobs;
  const int64_t now = util::now_ms();
  const auto gone = [&](const store::JobRecord& j) {
    return j.state == core::JobState::running && !view.agent_alive(j);
  };
  if (g.json) {
    auto arr = nlohmann::ordered_json::array();
    for (const auto& j : jobs) {
      arr.push_back(ui::job_json(j, view.agent_alive(j)));
    }
    std::printf("%s\n", ui::dump(arr, 2).c_str());
    return 0;
  }
  ui::Table t(
      {"JOB", "STATE", "ATTEMPTS", "EXIT", "SLOT", "TIME", "KEY", "ERROR / REASON"});
  for (const auto& j : jobs) {
    std::string exit = j.exit_code ? std::to_string(*j.exit_code)
                       : j.signal  ? "SIG" + std::to_string(*j.signal)
                                   : "-";
    std::string state(core::to_string(j.state));
    std::string note =
        j.state == core::JobState::waiting && !j.reason.empty() ? j.reason : j.error;
    if (gone(j)) {
      state += " (agent gone)";
      note = "its agent is gone; `muster resume " + run.id + "` recovers it";
    }
    t.add({j.id, state,
           std::to_string(j.attempts - j.interrupts) + "/" +
               std::to_string(j.max_attempts) + uncounted(j),
           exit, j.slot ? std::to_string(*j.slot) : "-", ui::job_duration(j, now),
           j.key.empty() ? "-" : j.key, note});
  }
  t.print(stdout);
  return 0;
}

namespace {

/// Copies what is added to a file to `to`, from its first byte; the file
/// may not exist yet.
class Follower {
public:
  Follower(std::string path, int to) : m_path(std::move(path)), m_to(to) {}
  /// Copies what is there now; false when nothing was.
  bool pump() {
    if (m_gone) {
      return false;
    }
    if (!m_file.valid()) {
      m_file.reset(::open(m_path.c_str(), O_RDONLY | O_CLOEXEC));
      if (!m_file.valid()) {
        return false;
      }
    }
    const uint64_t read = util::read_chunks(m_file.get(), [&](std::string_view chunk) {
      if (!m_gone && !util::write_all(m_to, chunk)) {
        m_gone = true; // the reader left: nothing more to do
      }
    });
    return read > 0;
  }

  /// Whether its reader is gone (a closed pipe).
  bool gone() const { return m_gone; }

private:
  std::string m_path;
  int m_to;
  util::Fd m_file;
  bool m_gone = false;
};

/// Pumps `followers` every 100 ms while `going()` says so (asked every
/// 250 ms), then once more.
void follow(std::vector<Follower*> followers, const std::function<bool()>& going) {
  int64_t asked = 0;
  for (;;) {
    for (Follower* f : followers) {
      f->pump();
      if (f->gone()) {
        return;
      }
    }
    const int64_t now = util::monotonic_ms();
    if (now - asked >= 250) {
      asked = now;
      if (!going()) {
        break;
      }
    }
    ::usleep(100 * 1000);
  }
  for (Follower* f : followers) {
    f->pump();
  }
}

/// Says, on stderr, when the files hold only the tails of what the job wrote.
void note_tail(const app::JobOutput& output, bool show_stdout, bool show_stderr) {
  const std::string cut = util::read_file(output.cut_path);
  if (cut.empty()) {
    return;
  }
  uint64_t bytes[2] = {0, 0};
  std::sscanf(cut.c_str(), "stdout %" SCNu64 " stderr %" SCNu64, &bytes[0], &bytes[1]);
  const uint64_t max = output.run.settings.max_output;
  const char* names[2] = {"stdout", "stderr"};
  for (int s : {0, 1}) {
    if (bytes[s] > max && (s == 0 ? show_stdout : show_stderr)) {
      std::fprintf(stderr, "muster: %s: the last %s of %s (--max-output %s)\n", names[s],
                   util::format_bytes(max).c_str(), util::format_bytes(bytes[s]).c_str(),
                   util::format_bytes(max).c_str());
    }
  }
}

/// Shows what the store kept of a job that ran on another host: the tails
/// of its streams, and a note on stderr of where it ran and what was cut.
void show_stored(const app::JobOutput& output,
                 const std::optional<store::StoredOutput>& kept, const LogsOptions& o) {
  if (!kept) {
    // Its agent keeps the output of every job that wrote some.
    std::fprintf(stderr, "muster: job %s ran on %s and wrote no output\n",
                 output.job.id.c_str(), output.job.host.c_str());
    return;
  }
  std::fflush(stdout);
  if (!o.stderr_only) {
    util::write_all(STDOUT_FILENO, kept->stdout_tail);
  }
  if (!o.stdout_only) {
    util::write_all(o.stderr_only ? STDOUT_FILENO : STDERR_FILENO, kept->stderr_tail);
  }
  const std::pair<const char*, int64_t> streams[] = {{"stdout", kept->stdout_bytes},
                                                     {"stderr", kept->stderr_bytes}};
  for (const auto& [name, bytes] : streams) {
    if (bytes > static_cast<int64_t>(store::k_stored_output_bytes)) {
      std::fprintf(stderr, "muster: %s: the last %s of %s, as the store keeps it\n", name,
                   util::format_bytes(store::k_stored_output_bytes).c_str(),
                   util::format_bytes(static_cast<uint64_t>(bytes)).c_str());
    }
  }
  std::fprintf(stderr,
               "muster: job %s ran on %s: this is its output as the store keeps it\n",
               output.job.id.c_str(), kept->host.c_str());
}

/// Shows what the store kept of a slot's log written on another host (the
/// store keeps its last 64 KiB), with -f until the run stops; false when it
/// kept none that matches.
bool show_stored_slot_log(store::Store& store, const store::RunRecord& run,
                          const LogsOptions& o) {
  const auto read = [&] {
    auto kept = check(store.stored_slot_logs(run.rid, o.slot));
    std::erase_if(kept,
                  [&](const auto& k) { return !o.host.empty() && k.host != o.host; });
    return kept;
  };
  auto kept = read();
  if (kept.empty()) {
    return false;
  }
  if (kept.size() > 1) {
    std::string hosts;
    for (const auto& k : kept) {
      hosts += (hosts.empty() ? "" : ", ") + k.host;
    }
    throw Failure{ExitCode::usage, "logs: slot " + std::to_string(o.slot) + " of run " +
                                       run.id + " ran on " + hosts +
                                       "; say which with --host"};
  }
  const auto& log = kept.front();
  std::fprintf(
      stderr, "muster: slot %" PRId64 " ran on %s: this is its log as the store keeps it",
      o.slot, log.host.c_str());
  if (log.bytes > static_cast<int64_t>(log.tail.size())) {
    std::fprintf(stderr, " (the last %s of %s)",
                 util::format_bytes(log.tail.size()).c_str(),
                 util::format_bytes(static_cast<uint64_t>(log.bytes)).c_str());
  }
  std::fprintf(stderr, "\n");
  util::write_all(STDOUT_FILENO, log.tail);
  // Its agent keeps what its slots write at each heartbeat: -f prints what
  // each new tail adds, until the run stops.
  int64_t shown = log.bytes;
  const std::string host = log.host;
  while (o.follow && find_run(store, run.id).state == core::RunState::running) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    for (const auto& k : read()) {
      if (k.host == host && k.bytes > shown) {
        const auto added = static_cast<size_t>(k.bytes - shown);
        util::write_all(STDOUT_FILENO,
                        std::string_view(k.tail).substr(k.tail.size() -
                                                        std::min(added, k.tail.size())));
        shown = k.bytes;
      }
    }
  }
  return true;
}

} // namespace

int cmd_logs(const GlobalOptions& g, const LogsOptions& o) {
  auto store = open_store(g, store::Create::no, store::Access::read_only);
  if (o.slot < 0 && !o.host.empty()) {
    throw Failure{ExitCode::usage, "logs: --host goes with --slot N"};
  }
  const std::string here = app::this_holder().host;
  if (o.slot >= 0) {
    const bool elsewhere = !o.host.empty() && o.host != here;
    auto log = elsewhere ? util::Result<app::SlotLog>(util::Error{
                               "no log of slot " + std::to_string(o.slot) + " on host " +
                                   o.host + " in run " + find_run(*store, o.run).id,
                               util::ErrorKind::not_found})
                         : app::slot_log(*store, g.store, o.run, o.slot);
    if (!log && log.error().kind == util::ErrorKind::not_found && store->keeps_output() &&
        show_stored_slot_log(*store, find_run(*store, o.run), o)) {
      return 0;
    }
    if (!log &&
        !(o.follow && !elsewhere && log.error().kind == util::ErrorKind::not_found)) {
      throw failure(log.error());
    }
    const auto run = log ? log->run : find_run(*store, o.run);
    Follower f(log ? log->path : run_files(g, run).slot_log(o.slot), STDOUT_FILENO);
    if (!o.follow) {
      f.pump();
      return 0;
    }
    // A slot's log grows while the run runs: its jobs, hooks and sidecar.
    follow({&f},
           [&] { return find_run(*store, run.id).state == core::RunState::running; });
    return 0;
  }
  if (o.job.empty()) {
    find_run(*store, o.run); // an unknown run is the first thing to say
    throw Failure{ExitCode::usage, "logs: give a JOB, or --slot N"};
  }
  auto output = check(app::job_output(*store, g.store, o.run, o.job));
  const auto unfinished = [](core::JobState s) {
    return s == core::JobState::running || s == core::JobState::pending ||
           s == core::JobState::waiting;
  };
  if (store->keeps_output() && !output.job.host.empty() && output.job.host != here) {
    // Its files are on the host that ran it; the store has its tails once
    // the attempt ends.
    if (o.follow && unfinished(output.job.state)) {
      std::fprintf(
          stderr,
          "muster: job %s runs on %s; its output reaches the store when it ends\n",
          output.job.id.c_str(), output.job.host.c_str());
      while (unfinished(output.job.state)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
        output = check(app::job_output(*store, g.store, o.run, o.job));
      }
    }
    show_stored(output, check(store->stored_output(output.job.jid)), o);
    return 0;
  }
  std::fflush(stdout);
  Follower out(output.stdout_path, STDOUT_FILENO);
  Follower err(output.stderr_path, o.stderr_only ? STDOUT_FILENO : STDERR_FILENO);
  std::vector<Follower*> shown;
  if (!o.stderr_only) {
    shown.push_back(&out);
  }
  if (!o.stdout_only) {
    shown.push_back(&err);
  }
  if (o.follow && unfinished(output.job.state)) {
    // Until its attempt ends; one that has not started yet is waited for.
    follow(shown, [&] {
      output = check(app::job_output(*store, g.store, o.run, o.job));
      return unfinished(output.job.state);
    });
    return 0;
  }
  for (Follower* f : shown) {
    f->pump();
  }
  note_tail(output, !o.stderr_only, !o.stdout_only);
  return 0;
}

int cmd_complete(const GlobalOptions& g, const CompleteOptions& o) {
  // Quiet when there is no store: a completion offers nothing then.
  auto opened = app::open_store(g.store, store::Create::no, store::Access::read_only);
  if (!opened) {
    return 0;
  }
  auto& store = *opened;
  if (o.what == "runs") {
    for (const auto& r : check(app::list_runs(*store, "", -1))) {
      std::printf("%s\n", r.run.id.c_str());
      if (!r.run.name.empty()) {
        std::printf("%s\n", r.run.name.c_str());
      }
    }
    return 0;
  }
  const auto run = find_run(*store, o.run);
  check(store->each_job(
      run.rid, [](const store::JobRecord& j) { std::printf("%s\n", j.id.c_str()); }));
  return 0;
}

} // namespace muster::cli
