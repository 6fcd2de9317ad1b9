#pragma once
// Runs jobs as local processes: spawn, epoll on a signalfd and the jobs'
// output pipes, reap, and write each job's output to its files as it comes.
// A file is created only at its first byte: creating and deleting two files
// per job costs more than the job itself on ext4.

#include "exec/cgroup.hpp"
#include "exec/keeper.hpp"
#include "exec/runner.hpp"
#include "util/fd.hpp"

#include <memory>
#include <string>
#include <unordered_map>

namespace muster::exec {

/// Blocks the signals muster handles (CHLD, INT, TERM, HUP) so they arrive
/// only through the runner's signalfd. Call before starting threads or jobs.
void block_handled_signals();

/// The local process runner. One per agent; the agent is single-threaded.
class LocalRunner final : public Runner {
public:
  static util::Result<std::unique_ptr<LocalRunner>> create();
  ~LocalRunner() override;

  util::Result<pid_t> start(const StartRequest& request) override;
  void signal_group(pid_t pgid, int sig) override;
  util::Result<Events> wait(int64_t deadline_ms) override;
  void watch(int fd) override;
  size_t running() const override { return m_jobs.size(); }
  std::unique_ptr<Probe> probe(const std::string& url, int64_t deadline_ms) override;
  /// How jobs are kept together: a cgroup each, or (weaker) process groups.
  const ContainmentInfo& containment() const { return m_containment; }

private:
  LocalRunner() = default;
  explicit LocalRunner(Keeper keeper) : m_keeper(std::move(keeper)) {}
  /// One output stream of a job: its pipe, and its file once it has output.
  struct Stream {
    util::Fd pipe;
    util::Fd file;
    std::string path;
    uint64_t bytes = 0;
    std::string kept; ///< all of it while it is small (k_output_in_memory)
    std::string error;
  };
  struct Job {
    Stream out;
    Stream err;
    bool append = false;
    bool stream = false;
    int cgroup = -1;    ///< its cgroup in m_cgroups, or -1
    std::string job_id; ///< its MUSTER_JOB_ID, to find what leaves its group
  };
  void reap(Events& events);
  void read_stream(pid_t pid, Job& job, Stream& stream, Events& events);
  void write_chunk(const Job& job, Stream& stream, std::string_view data);
  void close_stream(pid_t pid, Job& job, Stream& stream, Events& events);
  util::Result<std::string> resolve(const std::string& name);
  void kill_strays();

  Keeper m_keeper;
  std::unique_ptr<Cgroups> m_cgroups; ///< after m_keeper: removed before it ends
  ContainmentInfo m_containment;
  util::Fd m_epoll;
  util::Fd m_signals;
  int m_watched = -1;                  ///< watch()'s descriptor, not ours to close
  std::vector<std::string> m_base_env; ///< muster's environment, MUSTER_* removed
  std::string m_path_env;
  std::unordered_map<std::string, std::string> m_resolved;
  std::unordered_map<pid_t, Job> m_jobs;
  std::unordered_map<int, pid_t> m_pipe_owner; ///< read end → job
};

} // namespace muster::exec
