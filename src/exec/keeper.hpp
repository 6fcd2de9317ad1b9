#pragma once
// The keeper: a small process forked when the runner starts, which outlives
// muster only to kill the process groups of jobs muster was running when it
// died. The parent-death signal reaches only a job's first process; the keeper
// reaches the whole group, grandchildren included, even after `kill -9`.

#include "util/fd.hpp"
#include "util/result.hpp"

#include <atomic>
#include <cstdint>
#include <string>
#include <sys/types.h>
#include <unordered_map>
#include <utility>
#include <vector>

namespace muster::exec {

/// The parent's end of the keeper. The live groups sit in memory shared with
/// the keeper, so registering one costs a store, not a system call; the
/// keeper only waits for the pipe to close and then reads the table.
class Keeper {
public:
  /// Forks the keeper. Call before any job starts. `cgroup` (if not empty) is
  /// the jobs' cgroup subtree, killed and removed when muster dies.
  static util::Result<Keeper> start(const std::string& cgroup = "");
  Keeper() = default;
  Keeper(Keeper&& other) noexcept;
  Keeper& operator=(Keeper&&) = delete;
  Keeper(const Keeper&) = delete;
  /// Closes the pipe; the keeper kills whatever is still registered and exits.
  ~Keeper();

  void add(pid_t pgid);
  void remove(pid_t pgid);
  pid_t pid() const { return m_pid; }

  /// How many groups the table holds; more running jobs than this fall back
  /// to the parent-death signal and `muster resume`'s cleanup.
  static constexpr size_t k_capacity = 64 * 1024;

private:
  util::Fd m_pipe;
  pid_t m_pid = 0;
  std::atomic<int32_t>* m_table = nullptr; ///< shared: 0 is a free entry
  std::vector<uint32_t> m_free;            ///< free entries, private
  std::unordered_map<pid_t, uint32_t> m_where;
};

} // namespace muster::exec
