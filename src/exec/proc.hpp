#pragma once
// What /proc tells about processes: start times (to tell a live holder from a
// reused pid) and the processes a dead agent left behind.

#include <cstdint>
#include <string>
#include <sys/types.h>
#include <vector>

namespace muster::exec {

/// The process's start time in clock ticks since boot, or 0 if it is gone.
int64_t process_start_ticks(pid_t pid);
/// The process's start time in epoch milliseconds, or 0 if it is gone.
int64_t process_start_epoch_ms(pid_t pid);
/// True when `pid` runs and started at `start_ticks` (any start when 0). A
/// zombie, which has exited and waits to be reaped, is not alive.
bool process_alive(pid_t pid, int64_t start_ticks);

/// A job whose processes must not outlive the agent that started them.
struct Leftover {
  std::string job_id;
  int64_t pgid = 0;       ///< 0 when never recorded
  int64_t started_at = 0; ///< epoch ms when the attempt was claimed
};

/// SIGKILLs every process that belongs to the given jobs of run `run_id`: any
/// process whose environment names the run and job (MUSTER_RUN_ID,
/// MUSTER_JOB_ID), and any member of a recorded process group that started
/// after its attempt was claimed. Waits up to a second for them to go. Returns
/// how many processes were signalled.
int kill_leftovers(const std::string& run_id, const std::vector<Leftover>& jobs);

} // namespace muster::exec
