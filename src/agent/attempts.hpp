#pragma once
// Attempts: starting a claimed job's process in its slot, its deadlines
// (timeout, then SIGKILL after the kill grace), and what its end comes to:
// the rules and the result file classify it into the store::Update that the
// next commit carries. Counting and reporting are the agent's.

#include "agent/reporter.hpp"
#include "agent/slot_pool.hpp"
#include "core/rules.hpp"
#include "core/template.hpp"
#include "exec/runner.hpp"
#include "store/store.hpp"

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

namespace muster::agent {

/// How an attempt ended, once its update (if any) is queued for the store.
struct Ended {
  size_t slot = 0;        ///< its slot's index in the pool
  bool recorded = true;   ///< false when fenced: its lease was taken, the store moved on
  int64_t ended_mono = 0; ///< monotonic ms
  int64_t retry_at = 0;   ///< epoch ms when retrying; 0 otherwise
  int64_t halt_until = 0; ///< epoch ms when a rule halted the run; 0 otherwise
  bool hook_running = false; ///< its after_job runs: the slot stays busy until it ends
  std::string halt_reason;
  Finished finished; ///< for the reporter (state, outcome, output files)
};

/// The attempts running in the pool's slots, keyed by process group.
class Attempts {
public:
  Attempts(exec::Runner& runner, Reporter& reporter, SlotPool& pool,
           const store::RunRecord& run, const std::string& store_dir);
  /// Parses the run's command template and compiles its rules. `stream`:
  /// jobs' output is also handed over as it comes; `tag`: a template whose
  /// rendering each started job reports (for --tag), "" for none.
  util::Result<void> prepare(bool stream, const std::string& tag);
  /// Results carry the tails of their output to the store, for `muster
  /// logs` on other hosts.
  void keep_output(bool on) { m_keep_output = on; }
  /// Starts a claimed job (claim.slot is its slot's index); when it cannot
  /// start, how that ended, recorded like any other end.
  std::optional<Ended> start(store::Claim claim);
  /// When `exited` is one of the attempts: how it ended.
  std::optional<Ended> on_exit(const exec::Exited& exited);
  /// When `exited` is an after_job hook: the slot it kept busy, now free.
  std::optional<size_t> on_hook_exit(const exec::Exited& exited);

  /// Signals every attempt's group; `reason` says how their ends are recorded.
  void stop_all(int sig, core::ErrorType reason);
  /// Times out attempts past their deadline, and SIGKILLs those past kill_at.
  void check_deadlines(int64_t now_mono);
  /// The slot's sidecar died: its attempt cannot trust it, and is stopped.
  void stop_slot(size_t slot);
  /// Kills every attempt whose job is not in `held` (its lease was taken)
  /// and leaves it unrecorded, so that no job runs twice.
  void fence(const std::vector<int64_t>& held);
  /// Kills and fences every attempt: the agent was found gone.
  void fence_all();

  /// The earliest of `next` and the attempts' deadlines (monotonic ms).
  int64_t next_deadline(int64_t next) const;
  /// Attempts and after_job hooks still running.
  size_t running() const { return m_active.size() + m_after_hooks.size(); }
  /// Some attempt runs that nothing has asked to stop yet.
  bool any_unstopped() const;
  std::vector<BusySlot> busy_slots() const;
  /// The process groups of the running attempts.
  std::vector<pid_t> groups() const;
  /// What the next commit must carry; the caller clears it once committed.
  std::vector<store::Update>& updates() { return m_updates; }
  std::string out_path(int64_t seq, const char* ext) const;
  /// Cuts a finished attempt's output files to their last --max-output
  /// bytes, once they have been passed through; out/SEQ.cut tells how much
  /// there was.
  void keep_tails(const Finished& f) const;

private:
  struct Attempt {
    store::Claim claim;
    pid_t pid = 0;
    int64_t started_mono = 0;
    int64_t deadline = -1; ///< monotonic: when to stop it (timeout)
    int64_t kill_at = -1;  ///< monotonic: when to SIGKILL after SIGTERM
    core::ErrorType stop_reason = core::ErrorType::none; ///< why muster stopped it
    std::vector<std::string> argv;                       ///< for messages about it
    bool sidecar_died = false;    ///< stopped because its slot's sidecar died
    bool fenced = false;          ///< its lease was taken: stopped, and not recorded
    std::string after_job;        ///< the slot's after_job, rendered for this job
    std::vector<std::string> env; ///< the job's environment, for after_job
  };
  /// Starts after_job for an attempt that ended as `outcome`; true when it
  /// runs, and keeps the slot busy until on_hook_exit.
  bool start_after_job(const Attempt& a, const core::Outcome& outcome, size_t slot);
  /// Runs the job under `sh -c` after before_job.
  void wrap_with_job_hooks(std::vector<std::string>& argv, const core::RowView& row,
                           const core::JobContext& ctx) const;
  /// What the rules or the result file make of an attempt.
  core::Decision classify(const Attempt& a, core::Outcome& outcome,
                          const exec::Exited& exited) const;
  /// Turns an attempt's end into its update, queued for the next commit.
  Ended record(const Attempt& a, const core::Outcome& outcome,
               const exec::Exited& exited);
  Ended record_end(const Attempt& a, const core::Outcome& outcome,
                   const exec::Exited& exited);
  /// Puts the tails of the attempt's output in `u`.
  void keep_output(store::Update& u, int64_t seq, const exec::Exited& exited) const;
  void fill_finished(Ended& e, const Attempt& a, const core::Outcome& outcome,
                     const exec::Exited& exited, core::JobState state,
                     int64_t delay) const;

  exec::Runner& m_runner;
  Reporter& m_reporter;
  SlotPool& m_pool;
  const store::RunRecord& m_run;
  const std::string& m_store_dir;
  core::Template m_command;
  core::RuleSet m_rules;
  bool m_read_output = false; ///< some rule looks at the output
  bool m_keep_output = false; ///< results carry output tails (Store::keeps_output)
  bool m_stream = false;
  std::optional<core::Template> m_tag;
  std::optional<core::Template>
      m_before_job; ///< the slots' hooks, row placeholders and all
  std::optional<core::Template> m_after_job;
  /// An after_job that runs, keeping its slot busy. It gets the run's
  /// --timeout, then SIGKILL after the kill grace, as a job does.
  struct AfterHook {
    size_t slot = 0;
    int64_t deadline = -1; ///< monotonic ms; -1 without --timeout
    int64_t kill_at = -1;
  };
  std::unordered_map<pid_t, AfterHook> m_after_hooks;
  std::vector<std::string> m_names; ///< the row being started, decoded
  std::vector<std::string> m_values;
  std::unordered_map<pid_t, Attempt> m_active;
  std::vector<store::Update> m_updates;
  std::mt19937_64 m_rng;
};

} // namespace muster::agent
