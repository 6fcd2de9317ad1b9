#pragma once
// The slot pool: each slot's life. A slot waits for its stagger, is set up
// (directory, setup hook, sidecar and its readiness probe), takes jobs while
// ready, has its sidecar restarted with backoff, may be scaled away, and is
// torn down once on every way out. Hooks and sidecars run through the same
// Runner as jobs, as processes and timers of the agent's loop: the pool starts
// them and returns, the loop hands it their exits (on_exit) and calls advance()
// after every wait, so slots are set up side by side and the loop never blocks
// on one (invariant 10).

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

/// What the pool needs to know of the loop around it.
class PoolLoop {
public:
  virtual ~PoolLoop() = default;
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
  /// Begins the setup of every waiting slot whose time has come, and
  /// restarts sidecars that are due.
  void activate_due();
  /// After each wait: probes starting sidecars, and kills what did not stop
  /// in time.
  void advance();
  /// Begins the teardown of the slots scaled away once they are idle.
  void retire_idle();
  /// Begins every set-up slot's teardown (which also removes its directory);
  /// the loop serves until tearing_down() is false.
  void teardown_all();
  bool tearing_down() const;
  /// When `exited` is a hook's or a sidecar's: handles it and returns true.
  bool on_exit(const exec::Exited& exited);

  size_t size() const { return m_slots.size(); }
  bool any_usable() const;
  /// Some slot is not ready yet: it waits for its stagger, is being set up,
  /// or its sidecar starts or restarts.
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
  enum class SlotState {
    waiting,
    setting_up,
    starting,
    ready,
    restarting,
    failed,
    retired
  };
  /// The hook a slot runs, at most one at a time.
  enum class Hook { none, setup, ready, teardown };
  struct Slot {
    SlotState state = SlotState::waiting;
    int64_t start_at = 0;    ///< monotonic ms: when it may be set up
    bool set_up = false;     ///< setup began, so teardown is owed
    bool busy = false;       ///< a job runs in it
    bool ever_ready = false; ///< its sidecar was ready once: a failure now is a restart's
    std::string dir;         ///< its private directory, "" when none
    std::string error;       ///< why it failed
    pid_t sidecar = 0;       ///< its sidecar's process group, 0 when none runs
    bool stopping = false;   ///< muster is stopping the sidecar on purpose
    pid_t hook = 0;          ///< the hook's process group, 0 when none runs
    Hook hook_kind = Hook::none;
    bool hook_stopping = false; ///< muster is stopping the hook on purpose
    int64_t kill_at = -1;       ///< monotonic ms: what is being stopped is killed then
    int64_t probe_at = -1;      ///< monotonic ms, while starting: the next probe
    std::unique_ptr<exec::Probe> probe; ///< the readiness probe in flight, if any
    int64_t ready_by = -1; ///< monotonic ms, while starting: the ready deadline
    bool tearing_down = false;
    bool teardown_ran = false; ///< in this teardown, the teardown hook was started
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
  /// After the setup hook: starts the sidecar, or the slot is ready.
  void after_setup(size_t slot);
  /// Starts the slot's sidecar; it is probed by advance() until ready.
  void start_sidecar(size_t slot);
  /// While the sidecar starts: the ready deadline, and the next probe.
  void check_ready(size_t slot, int64_t now);
  void became_ready(size_t slot);
  /// The sidecar could not be made ready: the slot fails, or on a restart,
  /// is restarted again with backoff while restarts are left.
  void sidecar_failed(size_t slot, std::string error);
  /// SIGTERM to `pid`'s group, once (`stopping`), and SIGKILL after the kill
  /// grace (advance()).
  void stop(Slot& slot, pid_t pid, bool& stopping);
  void stop_sidecar(size_t slot);
  void stop_hook(size_t slot);
  void on_sidecar_exit(size_t slot, const exec::Exited& exited);
  void on_hook_exit(size_t slot, int status);
  void begin_teardown(size_t slot);
  /// The next step of a teardown: stop the hook, then the sidecar, run the
  /// teardown hook, remove the directory; each waits for the one before.
  void continue_teardown(size_t slot);
  /// Starts a hook script for `slot`; false (logged) when it cannot start.
  bool start_hook(size_t slot, Hook kind, const std::string& script);
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
  std::unordered_map<pid_t, size_t> m_hooks;    ///< hook pid → index
  bool m_closing = false;                       ///< teardown_all began
  std::vector<int64_t> m_free;                  ///< reused by free_numbers()
};

} // namespace muster::agent
