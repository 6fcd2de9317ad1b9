#pragma once
// The agent: claims jobs into free slots, starts them, watches their
// deadlines, classifies how they end and records it. One transaction per turn
// of the loop carries every result since the last turn and the next claims, so
// the store's cost per job stays flat and small.

#include "agent/attempts.hpp"
#include "agent/control_poller.hpp"
#include "agent/fail_fast.hpp"
#include "agent/liveness.hpp"
#include "agent/machine_gate.hpp"
#include "agent/rate_meter.hpp"
#include "agent/reporter.hpp"
#include "agent/slot_logs.hpp"
#include "agent/slot_pool.hpp"
#include "core/liveness.hpp"
#include "exec/runner.hpp"
#include "store/store.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
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
  deadline,    ///< --deadline passed: running jobs were stopped, the rest left pending
};

struct AgentResult {
  Ending ending = Ending::completed;
  core::Counts counts;
  std::optional<store::Holder> holder;   ///< when busy: who holds the run
  std::optional<store::LockRecord> lock; ///< when locked: the lock in the way
  bool failed_fast = false; ///< --halt: enough jobs failed that it stopped early
  int64_t resume_at = 0; ///< when halted or waiting: when claims may go on (0: unknown)
  std::string reason;    ///< when halted: why
};

/// Per-agent settings that may differ from the run's (resume with other -j).
struct AgentOptions {
  int64_t slots = 1;
  std::string store_dir; ///< for the jobs' output files
  store::Holder me;      ///< this process, as the run's holder
  IsAlive is_alive;
  /// Kills what dead agents left running, before their jobs run again.
  ReapOrphans reap_orphans;
  int64_t heartbeat_ms = core::k_default_heartbeat_ms;
  int64_t tick_ms = 100;
  /// End (Ending::halted or Ending::waiting) instead of waiting out a halt's
  /// cooldown or a limit's window.
  bool no_wait = false;
  /// --deadline: past this long after the start, running jobs are stopped as
  /// on cancel and the rest left pending (Ending::deadline); 0 for none.
  int64_t deadline_ms = 0;
  /// How often to look for jobs that others made claimable (waiting ones).
  int64_t poll_ms = 1000;
  /// How often to read requests from other terminals (pause, cancel, scale).
  int64_t control_ms = 250;
  /// The control poll's interval on a store that notifies the agent of
  /// changes (PostgreSQL's LISTEN/NOTIFY): the poll is then a fallback.
  int64_t notified_control_ms = 2000;
  /// Join a run another live agent holds, taking a share of its jobs.
  bool join = false;
  /// Hand each job's output to the reporter as it comes (--line-buffer, -u).
  bool stream_output = false;
  /// A template rendered for each job's row and reported when it starts
  /// (--tag, --tagstring); "" for none.
  std::string tag;
  HaltOnFailure halt_on_failure;
  /// --load and --memfree: no new job starts while the machine is above one.
  double max_load = 0;
  uint64_t min_free_bytes = 0;
  /// Settings to replace the run's once it is held (a re-run's new
  /// --retries or --timeout); never with `join`.
  std::optional<core::RunSettings> retune;
};

/// Runs one run's jobs until none is left or a signal stops it. It is made
/// of parts with one job each: the slot pool, the attempts running in it,
/// liveness (heartbeats, fencing, recovery), the control poller and the rate
/// meter; the agent holds the run's counts, drain and halt, and the loop.
class Agent final : private PoolLoop {
public:
  Agent(store::Store& store, exec::Runner& runner, Reporter& reporter,
        AgentOptions options);
  // The parts hold references into the agent: it is neither copied nor moved.
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;
  util::Result<AgentResult> run(int64_t rid);
  /// For a run whose agent died: takes it over (its running jobs are handled
  /// per on_interrupt, and its leftover processes killed), runs every slot's
  /// teardown hook and removes slot directories, and leaves it paused; with
  /// `cancel`, its unfinished jobs are cancelled and so is the run.
  util::Result<AgentResult> teardown(int64_t rid, bool cancel = false);

private:
  /// What a step of the loop says about the loop.
  enum class Step { go_on, again, stop };

  /// Takes the run over; when a live agent has it, the busy result instead.
  util::Result<std::optional<AgentResult>> take_over(int64_t rid);
  /// Everything between the takeover and the first claim: files, counts,
  /// the command and rules, the slots.
  util::Result<void> start(int64_t rid);
  /// Sets up due slots, commits the results since the last turn with the
  /// claims for free slots, and starts what was claimed.
  util::Result<Step> claim_turn(int64_t rid);
  /// With nothing running: whether there is anything left to wait for.
  util::Result<Step> idle_check(int64_t rid, AgentResult& result);
  /// Waits for the runner, then serves exits, deadlines and the timers.
  util::Result<Step> wait_turn(int64_t rid);
  /// After the loop: the last commit, teardown, and how the stint ended.
  util::Result<AgentResult> finish(int64_t rid, AgentResult result);
  /// After a failure in the loop: stops every job and records what it can.
  util::Result<AgentResult> fail(int64_t rid, const util::Error& error);
  /// Sets the ending of a stint that ran to its end; returns the run's state.
  core::RunState conclude(AgentResult& result) const;

  /// Applies one commit's result: moved counts, halts, wake times, claims.
  void apply_commit(store::CommitResult& result);
  /// Counts an attempt's end and tells the reporter.
  void on_ended(Ended& ended);
  /// Whether the loop goes on after `e`: a store out of reach is tried
  /// again every k_store_retry_ms, unless this agent fenced its jobs.
  bool ride_out(const util::Error& e);
  /// Whether the store is out of reach and not yet due to be tried again.
  bool store_resting(int64_t mono) const;
  /// A store call got through: says so once after an outage.
  void store_answered();
  static constexpr int64_t k_store_retry_ms = 250;
  util::Result<void> heartbeat(int64_t rid, int64_t mono);
  /// Acts on what other terminals asked: pause, resume, cancel, scale, added jobs.
  util::Result<void> poll_control(int64_t rid, int64_t mono);
  /// Claims stop until `until`; with halt_mode = "stop", running jobs stop.
  void on_halt(int64_t until, const std::string& reason);
  /// Reads the run's counts (and next retry time) from the store again, after
  /// others changed it: added jobs, recovered ones, claims by other agents.
  util::Result<void> recount(int64_t rid);
  /// recount() on the way out, where stale counts only make the ending
  /// cautious: a failure is reported, and the agent's own counts stand.
  void recount_or_warn(int64_t rid);
  /// Ends this agent's part: gives its slot numbers back, and gives the run
  /// up in `state` when it holds it (another live agent may carry on).
  void leave(int64_t rid, core::RunState state);
  int64_t left_to_do() const;
  int64_t next_deadline() const;
  Progress progress() const;

  /// Hands the events of one wait to the slot pool and the attempts.
  void serve(const exec::Events& events);
  void on_signal(int sig);
  void on_job_exit(const exec::Exited& exited);
  void on_output(const exec::Output& output);
  /// --halt: one more job failed; stops claiming (and running) at the limit.
  void count_failure();
  /// After each wait: the drain's grace, the jobs' and the slots' deadlines.
  void after_wait();
  /// Tears every slot down, serving the loop (signals, exits, heartbeats)
  /// until the last teardown hook has ended.
  void tear_down_slots(int64_t rid);
  /// Keeps the tails of this host's slot logs that grew in the store, where
  /// it keeps output (Store::keeps_output): every 10 s at a heartbeat, and
  /// at the end (`last`). A failure is tried again at the next one; the
  /// files are the record.
  void ship_slot_logs(int64_t rid, bool last);

  // PoolLoop: what the slot pool asks of the loop.
  void on_sidecar_died(size_t slot) override { m_attempts.stop_slot(slot); }
  bool draining() const override { return m_draining; }
  bool stop_at_once() const override { return m_signals_seen >= 2; }

  store::Store& m_store;
  exec::Runner& m_runner;
  Reporter& m_reporter;
  AgentOptions m_opts;
  store::RunRecord m_run;
  int64_t m_aid = 0; ///< this agent's id in the store
  SlotPool m_pool;
  std::optional<SlotLogShipper> m_slot_logs; ///< where the store keeps output
  Attempts m_attempts;
  bool m_store_down = false; ///< the last store call found it out of reach
  bool m_store_lost = false; ///< fenced, and the store is still out of reach at the end
  int64_t m_store_retry_at = 0; ///< monotonic ms: when to try it again
  Liveness m_liveness;
  ControlPoller m_control;
  MachineGate m_machine;
  MachineGate::Limit m_machine_told =
      MachineGate::Limit::none; ///< last told to the reporter
  RateMeter m_rate;
  core::Counts m_counts;
  int64_t m_started_mono = 0;
  int64_t m_next_retry_at = 0;  ///< epoch ms; 0 none known
  bool m_could_not_run = false; ///< no slot could be set up
  bool m_draining = false;
  int64_t m_drain_deadline = -1;
  int64_t m_deadline_at = -1; ///< monotonic ms of --deadline, -1 for none
  bool m_deadline_passed = false;
  int m_signals_seen = 0;
  int64_t m_halted_until = 0; ///< epoch ms; claims stop until then
  std::string m_halt_reason;
  int64_t m_wake_at = 0;       ///< epoch ms; a waiting job may be claimable then
  int64_t m_last_poll = 0;     ///< monotonic ms of the last commit that claimed
  int64_t m_last_recount = 0;  ///< monotonic ms of the last recount while others finish
  FailFast m_fail_fast;        ///< --halt: the jobs this agent saw fail for good
  bool m_failed_fast = false;  ///< --halt stopped it
  bool m_paused_shown = false; ///< the reporter was told claims stopped
  int64_t m_last_tick = 0;
};

} // namespace muster::agent
