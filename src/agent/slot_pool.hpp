#pragma once
// The slot pool: each slot's life. A slot waits for its stagger, is set up
// (directory, setup hook, sidecar and its readiness probe), takes jobs while
// ready, has its sidecar restarted with backoff, may be scaled away, and is
// torn down once on every way out. Hooks and sidecars run through the same
// Runner as jobs; while the pool waits for one, it hands every other event to
// the loop around it, so jobs keep being reaped and signals served.

#include "agent/reporter.hpp"
#include "core/slots.hpp"
#include "exec/runner.hpp"
#include "store/store.hpp"
#include "util/fd.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

namespace muster::agent {

/// What the pool needs from the loop around it while it waits for a hook or
/// a sidecar (invariant 10: the loop never blocks).
class PoolLoop {
public:
  virtual ~PoolLoop() = default;
  virtual void on_signal(int sig) = 0;
  /// An exit that is not the pool's own: a job's.
  virtual void on_job_exit(const exec::Exited& exited) = 0;
  /// A piece of a job's output, while the pool waited on a hook or sidecar.
  virtual void on_output(const exec::Output& output) = 0;
  /// After each wait: deadlines may have passed.
  virtual void after_wait() = 0;
  /// The sidecar of `slot` died while the run went on.
  virtual void on_sidecar_died(size_t slot) = 0;
  /// The first signal came: no slot is set up any more.
  virtual bool draining() const = 0;
  /// A second signal came: hooks are killed too.
  virtual bool stop_at_once() const = 0;
};

/// A busy slot, for `muster workers`.
struct BusySlot {
  size_t slot = 0;
  const std::string* job_id = nullptr;
  int64_t started_mono = 0;
};

/// The agent's slots. Indexes run 0..size()-1; each slot also has a number,
/// unique on this host for the run, for people, ports, directories and the store.
class SlotPool {
public:
  SlotPool(store::Store& store, exec::Runner& runner, Reporter& reporter, PoolLoop& loop,
           const store::RunRecord& run, const std::string& store_dir,
           const std::string& host);

  /// Leases `n` slot numbers for agent `aid` and plans the slots.
  util::Result<void> open(int64_t n, int64_t aid);
  /// For a dead agent's run: plans `n` slots as set up, so that teardown
  /// runs for each (which ones were set up is not recorded).
  util::Result<void> adopt(int64_t n);
  /// Grows or shrinks to `n` slots. New ones are set up like the first;
  /// removed ones take no new job and are torn down once idle.
  void scale_to(int64_t n, int64_t aid);
  /// Sets up every waiting slot whose time has come, and restarts sidecars.
  void activate_due();
  /// Tears down the slots scaled away once they are idle.
  void retire_idle();
  /// Runs every set-up slot's teardown, and removes slot directories.
  void teardown_all();
  /// When `exited` is a sidecar's: handles it and returns true.
  bool on_exit(const exec::Exited& exited);

  size_t size() const { return m_slots.size(); }
  bool any_usable() const;
  /// Some slot still waits for its stagger or its sidecar's restart.
  bool any_starting() const;
  /// The numbers of the ready slots without a job; valid until the next call.
  const std::vector<int64_t>& free_numbers();
  size_t index_of(int64_t number) const { return m_index.at(number); }
  int64_t number(size_t slot) const { return m_slots[slot].number; }
  void set_busy(size_t slot, bool busy) { m_slots[slot].busy = busy; }
  /// {port.x}, {slot_dir}, … for the slot's templates.
  const std::map<std::string, std::string>& values(size_t slot) const {
    return m_slots[slot].values;
  }
  /// MUSTER_PORT_X=…, MUSTER_SLOT_DIR=… for the slot's processes.
  const std::vector<std::string>& env(size_t slot) const { return m_slots[slot].env; }
  /// Job lines in the slot logs cost a write each: only where slots own things.
  /// Appends a timestamped line to the slot's log, logs/slot-N.log.
  void log(size_t slot, const std::string& line);
  /// Starts `script` under sh for the slot, its output in the slot's log, and
  /// returns at once: the caller reaps it (after_job).
  util::Result<pid_t> start_script(size_t slot, const std::string& script,
                                   const std::vector<std::string>& env);
  /// Why no slot could be set up, naming the first slot's log.
  std::string failure() const;
  /// The earliest of `next` and the slots' start and restart times.
  int64_t next_deadline(int64_t next) const;
  /// What each slot does, for `muster workers`.
  std::vector<store::SlotReport> reports(const std::vector<BusySlot>& busy) const;

private:
  enum class SlotState { waiting, ready, restarting, failed, retired };
  struct Slot {
    SlotState state = SlotState::waiting;
    int64_t start_at = 0;  ///< monotonic ms: when it may be set up
    bool set_up = false;   ///< setup began, so teardown is owed
    bool busy = false;     ///< a job runs in it
    std::string dir;       ///< its private directory, "" when none
    std::string error;     ///< why it failed
    pid_t sidecar = 0;     ///< its sidecar's process group, 0 when none runs
    bool stopping = false; ///< muster is stopping the sidecar on purpose
    int64_t restarts = 0;
    int64_t restart_at = -1; ///< monotonic ms, when restarting
    bool retiring = false;   ///< scaled away: torn down once idle
    int64_t number = 0;
    std::map<std::string, std::string> values;
    std::vector<std::string> env;
    util::Fd log; ///< its log, opened at the first line
  };
  util::Result<std::vector<core::SlotPorts>> lease(int64_t n, int64_t aid);
  void prepare(const std::vector<core::SlotPorts>& ports);
  void add(const core::SlotPorts& ports, int64_t start_at);
  void set_up(size_t slot);
  void restart_sidecar(size_t slot);
  /// Starts the slot's sidecar and waits until it is ready; false (with the
  /// slot's error set) when it cannot start, dies, or is not ready in time.
  bool start_sidecar(size_t slot);
  void stop_sidecar(size_t slot);
  void on_sidecar_exit(size_t slot, const exec::Exited& exited);
  void teardown(size_t slot);
  /// Runs a hook script for `slot` to its end; returns its exit status.
  util::Result<int> run_hook(size_t slot, const std::string& what,
                             const std::string& script);
  /// Waits up to `wait_ms` and serves what happened meanwhile; returns the
  /// wait status of `own` when it ended then, -1 otherwise.
  util::Result<int> serve(int64_t wait_ms, pid_t own);
  /// A hook's or the sidecar's request: its output goes to the slot's log.
  exec::StartRequest request(size_t slot) const;
  std::string log_path(size_t slot) const;
  void fail(size_t slot, const std::string& error, bool see_log);

  store::Store& m_store;
  exec::Runner& m_runner;
  Reporter& m_reporter;
  PoolLoop& m_loop;
  const store::RunRecord& m_run;
  const std::string& m_store_dir;
  const std::string& m_host;
  std::vector<Slot> m_slots;
  std::unordered_map<int64_t, size_t> m_index;  ///< slot number → index
  std::unordered_map<pid_t, size_t> m_sidecars; ///< sidecar pid → index
  std::vector<int64_t> m_free;                  ///< reused by free_numbers()
};

} // namespace muster::agent
