#pragma once
// Containment: every job runs in a cgroup v2 of its own, so that a process it
// starts with setsid, or a daemon it forks, ends with it. muster makes a
// subtree `muster-PID` under its own cgroup (on a hybrid system, in the v2
// hierarchy at /sys/fs/cgroup/unified, which offers cgroup.kill without any
// controller) and one child per running job. The end of a job, a timeout and
// a cancel write cgroup.kill; muster's death leaves the keeper to kill the
// whole subtree. muster never moves or changes a cgroup it did not create.
//
// Where that is not allowed (no cgroup v2, a read-only one, no write access,
// or MUSTER_CONTAINMENT=process), muster falls back to process groups and a
// child subreaper: weaker, as a process that leaves its group is found only
// by the MUSTER_JOB_ID in its environment.

#include "util/fd.hpp"
#include "util/result.hpp"

#include <memory>
#include <string>
#include <vector>

namespace muster::exec {

enum class Containment { cgroup, process_group };

/// What this process can use, and why when it is the weaker mode.
struct ContainmentInfo {
  Containment mode = Containment::process_group;
  std::string cgroup; ///< muster's own cgroup directory (cgroup mode)
  std::string why;    ///< why the weaker mode is in force ("" in cgroup mode)
};

/// A look without side effects: is there a cgroup v2 that this process's
/// cgroup sits in and may create children in? (The agent tries for real.)
ContainmentInfo detect_containment();

/// The subtree of one agent, and a pool of job cgroups in it.
class Cgroups {
public:
  /// Makes `muster-PID` under muster's own cgroup and checks that a process
  /// can be moved into a child of it. Removes the subtrees of dead musters
  /// first. An error says why the weaker mode is in force.
  static util::Result<std::unique_ptr<Cgroups>> create();
  /// Kills what is left in the subtree and removes it.
  ~Cgroups();
  Cgroups(const Cgroups&) = delete;
  Cgroups& operator=(const Cgroups&) = delete;

  /// A job's cgroup, taken from the pool or made.
  struct Job {
    int id = -1;    ///< -1: none (spawn without a cgroup)
    int procs = -1; ///< its cgroup.procs, which the child writes "0" to
  };
  util::Result<Job> take();
  /// Kills every process in the job's cgroup; it returns to the pool once empty.
  void release(int id);
  /// Sends `sig` to every process in the job's cgroup (SIGKILL: cgroup.kill).
  void signal(int id, int sig);
  /// The subtree's directory, which the keeper kills if muster dies.
  const std::string& dir() const { return m_dir; }

private:
  struct Group {
    std::string dir;
    util::Fd procs;
    util::Fd kill;
    bool busy = false;
  };
  explicit Cgroups(std::string dir) : m_dir(std::move(dir)) {}
  bool empty(const Group& g) const;

  std::string m_dir;
  std::vector<Group> m_groups; ///< index = Job::id
  std::vector<int> m_draining; ///< released, not yet empty
  std::vector<int> m_free;
};

/// Kills every process in the cgroup subtree at `dir` and removes its
/// directories, deepest first, waiting up to `wait_ms` for them to empty;
/// `reap`: reaps this process's exited children meanwhile (the subreaper's).
void kill_cgroup_tree(const char* dir, int wait_ms, bool reap);

} // namespace muster::exec
