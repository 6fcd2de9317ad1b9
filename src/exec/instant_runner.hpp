#pragma once
// A runner for benchmarks of the store only: a job "starts" and exits 0 at
// once, and no process is made. It measures claims and results per second
// with nothing else in the way (bench/postgres.sh); muster uses it only
// when MUSTER_BENCH_INSTANT_JOBS=1 is set, and says so. Signals, probes and
// the store's descriptor go through the real runner it wraps.

#include "exec/runner.hpp"

#include <memory>
#include <unordered_set>

namespace muster::exec {

class InstantRunner final : public Runner {
public:
  explicit InstantRunner(std::unique_ptr<Runner> real) : m_real(std::move(real)) {}

  util::Result<pid_t> start(const StartRequest& request) override;
  /// The jobs have no process: nothing to signal.
  void signal_group(pid_t, int) override {}
  /// The exits of the jobs started since the last wait, at once.
  util::Result<Events> wait(int64_t deadline_ms) override;
  void watch(int fd) override { m_real->watch(fd); }
  size_t running() const override { return m_running.size(); }
  std::unique_ptr<Probe> probe(const std::string& url, int64_t deadline_ms) override {
    return m_real->probe(url, deadline_ms);
  }

private:
  std::unique_ptr<Runner> m_real;
  std::unordered_set<pid_t> m_running;
  /// Above any pid_max (2^22): a kill(2) of one finds no process.
  pid_t m_next_pid = pid_t{1} << 30;
};

} // namespace muster::exec
