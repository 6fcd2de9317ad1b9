#pragma once
// The keeper: a small process forked when the runner starts, which outlives
// muster only to kill the process groups of jobs muster was running when it
// died. The parent-death signal reaches only a job's first process; the keeper
// reaches the whole group, grandchildren included, even after `kill -9`.

#include "util/fd.hpp"
#include "util/result.hpp"

#include <cstdint>
#include <utility>
#include <sys/types.h>

namespace muster::exec {

/// The parent's end of the keeper: tells it which groups are alive.
class Keeper {
public:
  /// Forks the keeper. Call before any job starts.
  static util::Result<Keeper> start();
  Keeper() = default;
  Keeper(Keeper&& other) noexcept
      : m_pipe(std::move(other.m_pipe)), m_pid(std::exchange(other.m_pid, 0)) {}
  Keeper& operator=(Keeper&&) = delete;
  Keeper(const Keeper&) = delete;
  /// Closes the pipe; the keeper kills whatever is still registered and exits.
  ~Keeper();

  void add(pid_t pgid) { send(pgid); }
  void remove(pid_t pgid) { send(-pgid); }
  pid_t pid() const { return m_pid; }

private:
  void send(int32_t message);
  util::Fd m_pipe;
  pid_t m_pid = 0;
};

} // namespace muster::exec
