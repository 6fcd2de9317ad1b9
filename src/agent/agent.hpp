#pragma once
// The agent: claims jobs into free slots, starts them, watches their
// deadlines, classifies how they end and records it. One transaction per turn
// of the loop carries every result since the last turn and the next claims, so
// the store's cost per job stays flat and small.

#include "agent/reporter.hpp"
#include "core/liveness.hpp"
#include "core/rules.hpp"
#include "core/template.hpp"
#include "exec/runner.hpp"
#include "store/store.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

namespace muster::agent {

/// How an agent's stint on a run ended.
enum class Ending {
  completed,   ///< every job is in a terminal state
  interrupted, ///< a signal stopped it; the run can be resumed
  held,        ///< all that is left is interrupted jobs held by --on-interrupt hold
  busy,        ///< another live agent holds the run; nothing was done
  locked,      ///< a lock the run needs is held; nothing was done
  halted,      ///< a rule halted the run, and no_wait was set
  waiting,     ///< every job left waits on a limit, and no_wait was set
  cancelled,   ///< `muster cancel` ended it
};

struct AgentResult {
  Ending ending = Ending::completed;
  core::Counts counts;
  std::optional<store::Holder> holder; ///< when busy: who holds the run
  std::optional<store::LockRecord> lock; ///< when locked: the lock in the way
  int64_t resume_at = 0; ///< when halted or waiting: when claims may go on (0: unknown)
  std::string reason;    ///< when halted: why
};

/// Per-agent settings that may differ from the run's (resume with other -j).
struct AgentOptions {
  int64_t slots = 1;
  std::string store_dir;       ///< for the jobs' output files
  store::Holder me;            ///< this process, as the run's holder
  std::function<bool(const store::Holder&)> is_alive;
  /// Kills what dead agents left running, before their jobs run again.
  std::function<void(const std::string& run_id, const std::vector<store::Orphan>&)> reap_orphans;
  int64_t heartbeat_ms = core::k_default_heartbeat_ms;
  int64_t tick_ms = 100;
  /// End (Ending::halted or Ending::waiting) instead of waiting out a halt's
  /// cooldown or a limit's window.
  bool no_wait = false;
  /// How often to look for jobs that others made claimable (waiting ones).
  int64_t poll_ms = 1000;
  /// How often to read requests from other terminals (pause, cancel, scale).
  int64_t control_ms = 250;
  /// Join a run another live agent holds, taking a share of its jobs.
  bool join = false;
};

/// Runs one run's jobs until none is left or a signal stops it.
class Agent {
public:
  Agent(store::Store& store, exec::Runner& runner, Reporter& reporter, AgentOptions options);
  util::Result<AgentResult> run(int64_t rid);
  /// For a run whose agent died: takes it over (its running jobs are handled
  /// per on_interrupt, and its leftover processes killed), runs every slot's
  /// teardown hook and removes slot directories, and leaves it paused; with
  /// `cancel`, its unfinished jobs are cancelled and so is the run.
  util::Result<AgentResult> teardown(int64_t rid, bool cancel = false);

private:
  struct Active {
    store::Claim claim;
    pid_t pid = 0;
    int64_t started_mono = 0;
    int64_t deadline = -1; ///< monotonic: when to stop it (timeout or drain)
    int64_t kill_at = -1;  ///< monotonic: when to SIGKILL after SIGTERM
    core::ErrorType stop_reason = core::ErrorType::none; ///< timeout or interrupted
    std::vector<std::string> argv; ///< for messages about it
    bool sidecar_died = false;     ///< stopped because its slot's sidecar died
    bool fenced = false;           ///< its lease was taken: stopped, and not recorded
  };
  /// What the rules or the result file make of an attempt.
  core::Decision classify(const Active& a, core::Outcome& outcome, const exec::Exited& exited);
  /// Claims stop until `until`; with halt_mode = "stop", running jobs stop.
  void on_halt(int64_t until, const std::string& reason);
  /// Applies one commit's result: moved counts, halts, wake times, claims.
  void apply_commit(store::CommitResult& result);
  /// Reads and acts on what other terminals asked: pause, resume, cancel,
  /// scale, added jobs.
  util::Result<void> poll_control(int64_t rid);
  /// Grows or shrinks the set of slots. New slots are set up like the first
  /// ones; removed ones take no new job and are torn down once idle.
  void scale_to(int64_t slots);
  /// Tears down slots marked to go once they are idle.
  void retire_idle_slots();
  void teardown_slot(size_t slot);

  /// Starts a claimed job in its slot, or records why it could not start.
  void launch(store::Claim claim);
  void on_exit(const exec::Exited& exited);
  /// Runs the job under `sh -c` between before_job and after_job, if set.
  void wrap_with_job_hooks(std::vector<std::string>& argv, const core::JobContext& ctx);
  /// Records how an attempt ended: its next state, the store update, counts.
  void record(const Active& a, const core::Outcome& outcome, const exec::Exited& exited);

  /// A slot's life: it waits for its stagger, is set up (directory, setup
  /// hook), takes jobs while ready, and is torn down once at the end.
  enum class SlotState { waiting, ready, restarting, failed, retired };
  struct Slot {
    SlotState state = SlotState::waiting;
    int64_t start_at = 0; ///< monotonic ms: when it may be set up
    bool set_up = false;  ///< setup began, so teardown is owed
    std::string dir;      ///< its private directory, "" when none
    std::string error;    ///< why it failed
    pid_t sidecar = 0;    ///< its sidecar's process group, 0 when none runs
    bool stopping = false; ///< muster is stopping the sidecar on purpose
    int64_t restarts = 0;
    int64_t restart_at = -1; ///< monotonic ms, when restarting
    bool retiring = false;   ///< scaled away: torn down once idle
    int64_t number = 0;      ///< its slot number, unique on this host for the run
  };
  /// A slot's number (for people, ports, directories and the store).
  int64_t number(size_t slot) const { return m_slots[slot].number; }
  /// Leases `n` more slot numbers (unique on this host for the run) and
  /// plans their ports.
  util::Result<std::vector<core::SlotPorts>> lease_slots(int64_t n);
  /// Ends this agent's part: gives its slot numbers back, and gives the run
  /// up in `state` when it holds it (another live agent may carry on).
  void leave(int64_t rid, core::RunState state);
  /// The heartbeat: renews leases, stops jobs whose lease was taken (fencing),
  /// and recovers the jobs of agents that are gone.
  util::Result<void> heartbeat(int64_t rid);
  /// Reads the run's counts (and next retry time) from the store again, after
  /// others changed it: added jobs, recovered ones, claims by other agents.
  util::Result<void> recount(int64_t rid);
  /// What each slot does, as JSON for `muster workers`.
  std::string slot_states() const;
  void prepare_slots(const std::vector<core::SlotPorts>& ports);
  void add_slot(const core::SlotPorts& ports, int64_t start_at);
  /// Sets up every waiting slot whose time has come.
  void activate_due_slots();
  /// Runs teardown for every slot that was set up, and removes directories.
  void teardown_slots();
  /// Starts the slot's sidecar and waits until it is ready; false (with the
  /// slot's error set) when it cannot start, dies, or is not ready in time.
  bool start_sidecar(size_t slot);
  void stop_sidecar(size_t slot);
  void on_sidecar_exit(size_t slot, const exec::Exited& exited);
  /// Hands an exit to the sidecar or the job it belongs to.
  void dispatch_exit(const exec::Exited& exited);
  /// Runs a hook script for `slot` to its end; returns its exit status.
  util::Result<int> run_hook(size_t slot, const std::string& what, const std::string& script);
  std::string slot_log(size_t slot) const;
  /// Appends a hook's or sidecar's captured BASE.out/.err to the slot's log.
  void move_output_to_log(size_t slot, const std::string& base) const;
  /// Takes the run over; when a live agent has it, the busy result instead.
  util::Result<std::optional<AgentResult>> take_over(int64_t rid);
  void log_slot(size_t slot, const std::string& line) const;
  void on_signal(int sig);
  void check_deadlines(int64_t now);
  void stop_all(int sig, core::ErrorType reason);
  int64_t next_deadline() const;
  Progress progress() const;
  void note_finish(int64_t now);
  std::string out_path(int64_t seq, const char* ext) const;

  store::Store& m_store;
  exec::Runner& m_runner;
  Reporter& m_reporter;
  AgentOptions m_opts;
  store::RunRecord m_run;
  core::Template m_command;
  std::vector<std::string> m_names; ///< the row being launched, decoded
  std::vector<std::string> m_values;
  core::Counts m_counts;
  std::vector<bool> m_slot_busy;
  std::vector<Slot> m_slots;
  std::unordered_map<int64_t, size_t> m_slot_index; ///< slot number → index in m_slots
  bool m_slot_logs = false; ///< log job starts and ends in the slot logs
  bool m_could_not_run = false; ///< no slot could be set up
  std::unordered_map<pid_t, size_t> m_sidecars; ///< sidecar pid → slot
  std::vector<std::map<std::string, std::string>> m_slot_values; ///< per slot: {port.x}...
  std::vector<std::vector<std::string>> m_slot_env;              ///< per slot: MUSTER_PORT_X...
  std::unordered_map<pid_t, Active> m_active;
  std::vector<store::Update> m_updates;
  int64_t m_started_mono = 0;
  int64_t m_next_retry_at = 0; ///< epoch ms; 0 none known
  bool m_draining = false;
  int64_t m_drain_deadline = -1;
  int m_signals_seen = 0;
  int64_t m_last_heartbeat = 0;
  core::RuleSet m_rules;
  bool m_read_output = false;  ///< some rule looks at the output
  int64_t m_halted_until = 0;  ///< epoch ms; claims stop until then
  std::string m_halt_reason;
  int64_t m_wake_at = 0;       ///< epoch ms; a waiting job may be claimable then
  int64_t m_last_poll = 0;     ///< monotonic ms of the last commit that claimed
  bool m_paused_shown = false; ///< the reporter was told claims stopped
  bool m_user_paused = false;  ///< `muster pause`: no claims until resumed
  bool m_cancelling = false;   ///< `muster cancel`: stop everything, cancel the rest
  int64_t m_generation = -1;   ///< the run's generation last seen (added jobs)
  int64_t m_target_slots = 0;  ///< the last scale request acted on
  int64_t m_last_control = 0;  ///< monotonic ms of the last control read
  int64_t m_aid = 0;           ///< this agent's id in the store
  int64_t m_last_beat_ok = 0;  ///< monotonic ms of the last heartbeat the store took
  int64_t m_last_tick = 0;
  // Finishes per 1-second bucket over the last ten seconds, for the rate.
  int64_t m_buckets[10] = {};
  int64_t m_bucket_second = 0;
  std::mt19937_64 m_rng;
};

} // namespace muster::agent
