#pragma once
// Runs jobs as local processes: spawn, epoll on a signalfd, reap, and capture
// output into files whose tail is kept.

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
  size_t running() const override { return m_jobs.size(); }

private:
  LocalRunner() = default;
  struct Job {
    util::Fd out;
    util::Fd err;
    std::string out_path;
    std::string err_path;
    uint64_t max_output = 0;
  };
  void reap(Events& events);
  util::Result<std::string> resolve(const std::string& name);

  util::Fd m_epoll;
  util::Fd m_signals;
  std::vector<std::string> m_base_env; ///< muster's environment, MUSTER_* removed
  std::string m_path_env;
  std::unordered_map<std::string, std::string> m_resolved;
  std::unordered_map<pid_t, Job> m_jobs;
};

/// Keeps the last `max_bytes` of the file open at `fd`; returns its new size.
uint64_t keep_tail(int fd, uint64_t max_bytes);

} // namespace muster::exec
