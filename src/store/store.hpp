#pragma once
// The store: where all state lives. The agent keeps nothing a crash could lose.
//
// The contract every backend meets (SQLite now, PostgreSQL later); many
// agents, on one host or many, call these methods on one store at once:
//
// - Every method that changes something is one transaction: all of it
//   happens, or none of it (an error leaves the store as it was).
// - Claims are exclusive: two agents claiming at once never get the same job
//   (or the same attempt of it). A claim is committed before the caller
//   starts the job (invariant 1), and records running, the agent, the slot,
//   the attempt and a lease (core::lease_ms of the agent's heartbeat).
// - Limits (per-key concurrency, daily caps, the start rate), the run's halt
//   and job locks are checked in the same transaction as the claim, so that
//   no interleaving of agents exceeds them. The verdicts and their words
//   come from core (core::key_holds, core::describe_lock).
// - A result (record) applies only to a job that is still running and owned
//   by the agent that sends it; a result from an agent that lost its lease
//   (another agent recovered the job) changes nothing.
// - create_run and add_jobs are all or nothing: a bad row or a duplicate id
//   leaves no run and no job behind.
// - An agent is gone when core::is_offline says so (or its process is dead on
//   this host); recovery marks it offline and moves its running jobs by
//   on_interrupt (core::state_on_interrupt), once: a second recovery of the
//   same jobs finds nothing.
// - No per-turn method reads or writes a number of rows that grows with the
//   run (invariant 7): claims, results, heartbeats, limits, locks and control
//   go through indexes.
// - Reads (find_run, jobs, counts, locks, agents, events, control) see a
//   committed state, never part of a transaction.
// Errors carry a kind: not_found for a missing run or job, busy for a store
// locked past its timeout, store_unavailable, disk_full, corrupt, bad_input.

#include "core/job.hpp"
#include "core/limits.hpp"
#include "core/liveness.hpp"
#include "core/locks.hpp"
#include "core/run.hpp"
#include "util/result.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace muster::store {

/// Who holds a run: one agent process.
struct Holder {
  int64_t pid = 0;
  std::string host;
  int64_t start_time = 0; ///< the process's start time (guards against pid reuse)
  int64_t heartbeat_at = 0;
  int64_t heartbeat_ms = 0; ///< its heartbeat interval; 0 when unknown
  std::string user;         ///< who started it
  bool empty() const { return pid == 0; }
};

/// An agent's recorded state.
enum class AgentState {
  running, ///< it runs jobs and beats
  stopped, ///< it stopped and gave its slots back
  offline, ///< another agent found it gone and took its jobs
};
/// "running", "stopped", "offline": the words stored.
std::string_view to_string(AgentState state);
std::optional<AgentState> parse_agent_state(std::string_view text);

/// What one slot of an agent does, as its heartbeats report it.
enum class SlotActivity {
  idle,       ///< ready for a job
  busy,       ///< running a job
  starting,   ///< its setup hook or sidecar is not ready yet
  restarting, ///< its sidecar died and is being started again
  failed,     ///< its setup or sidecar failed for good; it takes no jobs
  retired,    ///< given back after a scale down
};
/// "idle", "busy", "starting", "restarting", "failed", "retired".
std::string_view to_string(SlotActivity activity);
std::optional<SlotActivity> parse_slot_activity(std::string_view text);

/// What a slot's sidecar does.
enum class SidecarState { none, starting, ready, restarting, failed, stopped };
/// "none" (the run has no sidecar), "starting", "ready", "restarting",
/// "failed", "stopped".
std::string_view to_string(SidecarState state);
std::optional<SidecarState> parse_sidecar_state(std::string_view text);

/// One slot of an agent, as of its last heartbeat.
struct SlotReport {
  int64_t slot = 0; ///< the slot's number (unique on the host)
  SlotActivity activity = SlotActivity::idle;
  std::string job;   ///< busy: the job it runs
  int64_t since = 0; ///< busy: when that job started (epoch ms)
  SidecarState sidecar = SidecarState::none;
  std::string held; ///< not busy: why it takes no new job (--load); "" when none
};

/// What other terminals ask of a run's live agent.
enum class ControlRequest {
  none,       ///< carry on
  pause,      ///< claim nothing more; running jobs finish
  pause_stop, ///< claim nothing more, and stop running jobs
  cancel,     ///< stop everything; jobs not started are cancelled
};
/// "", "pause", "pause-stop", "cancel": the words stored ("" is stored as NULL).
std::string_view to_string(ControlRequest request);
std::optional<ControlRequest> parse_control_request(std::string_view text);

/// One agent of a run, as recorded.
struct AgentRecord {
  int64_t aid = 0;
  int64_t rid = 0;
  std::string run_id;
  Holder who; ///< host, pid, start time, heartbeat
  std::string user;
  int64_t slots = 0;
  int64_t started_at = 0;
  AgentState state = AgentState::running;
  int64_t stopped_at = 0;
  std::vector<SlotReport> slot_reports; ///< what each slot does, as of the last heartbeat
};

/// What a heartbeat found.
struct Beat {
  std::vector<int64_t> held; ///< running jobs whose lease this agent still holds
  bool offline = false;      ///< another agent found this one gone and took its jobs
};

/// A run as stored.
struct RunRecord {
  int64_t rid = 0;  ///< internal row id
  std::string id;   ///< short public id
  std::string name; ///< "" when none
  core::RunState state = core::RunState::created;
  core::RunSettings settings;
  std::vector<std::string> columns; ///< input field names, when the input names them
  int64_t total = 0;
  std::string input_digest; ///< identifies the command and rows it was made from
  int64_t created_at = 0;
  int64_t updated_at = 0;
  double rate = 0; ///< jobs/s the holder last reported
  Holder holder;
  int64_t resume_at =
      0; ///< halted: claims resume at this time (epoch ms); 0 when not halted
  std::string halt_reason; ///< why it halted
};

/// A job as stored.
struct JobRecord {
  int64_t jid = 0; ///< internal row id; orders jobs as in their input
  int64_t seq = 0; ///< 1-based position among the run's rows
  std::string id;
  std::string key;
  std::string fields; ///< JSON: an array of values, or an object of name → value
  std::string raw;    ///< the record's text, which {} stands for
  core::JobState state = core::JobState::pending;
  int64_t attempts = 0;
  int64_t interrupts = 0; ///< attempts that were interrupted (they do not count)
  int64_t halts = 0;      ///< of those, the ones that halted the run (a halt rule)
  int64_t max_attempts = 1;
  std::optional<int64_t> exit_code;
  std::optional<int64_t> signal;
  std::string error;
  std::string error_type;
  std::optional<int64_t> slot;
  std::optional<int64_t> pid;
  std::optional<int64_t> pgid;
  int64_t started_at = 0;
  int64_t finished_at = 0;
  int64_t retry_at =
      0; ///< retrying: when it is due; waiting: when its window opens (0: on an event)
  int64_t priority = 0;           ///< higher runs first
  std::vector<std::string> locks; ///< the locks it holds while it runs
  std::string reason;             ///< waiting: why
  int64_t agent = 0;              ///< the agent that claimed it last (0: none)
  std::string host;               ///< the host of the agent that claimed it last
};

/// A job to create.
struct NewJob {
  std::string id;
  std::string key;
  std::string fields;
  std::string raw;
  std::string where; ///< "FILE:LINE", for error messages
  int64_t priority = 0;
  std::vector<std::string> locks;
};

/// A job this agent has claimed; its claim is committed.
struct Claim {
  int64_t jid = 0;
  std::string id;
  std::string key;
  std::string fields;
  std::string raw;
  int64_t attempt = 1;    ///< this attempt's number
  int64_t interrupts = 0; ///< earlier attempts that were interrupted
  int64_t halts = 0;      ///< of those, the ones that halted the run
  int64_t max_attempts = 1;
  int64_t seq = 0;
  core::JobState from = core::JobState::pending; ///< pending, or retrying
  int64_t slot = 0;
  std::vector<std::string> locks; ///< the locks the claim took
  int64_t claimed_at = 0;         ///< epoch ms
};

/// A change to a claimed job, applied in the next commit.
struct Update {
  enum class Kind { started, finished };
  Kind kind = Kind::finished;
  int64_t jid = 0;
  int64_t pid = 0; ///< the process (and group) id; 0 if it never started
  core::JobState state = core::JobState::succeeded; ///< finished: the new state
  core::Outcome outcome;
  int64_t finished_at = 0;
  int64_t retry_at = 0;
  bool uncounted = false;         ///< the attempt does not count against max_attempts
  std::string error_type;         ///< recorded instead of the outcome's own, when set
  std::string key;                ///< the job's key, for limits and block_key
  std::vector<std::string> locks; ///< the locks to release
  int64_t claimed_at = 0;         ///< when the attempt was claimed (its day window)
  bool block_key = false;         ///< skip the key's other unfinished jobs
  int64_t halt_until = 0;         ///< halt the run until then (epoch ms)
  std::string halt_reason;
  /// The output kept in the store with the result (Store::keeps_output):
  /// the tails of the streams, valid UTF-8, and how much each had in all.
  bool output_kept = false;
  std::string stdout_tail;
  std::string stderr_tail;
  int64_t stdout_bytes = 0;
  int64_t stderr_bytes = 0;
};

/// A finished attempt's output as the store keeps it: what `muster logs`
/// shows on a host that does not have the job's files.
struct StoredOutput {
  std::string host; ///< where the attempt ran
  std::string stdout_tail;
  std::string stderr_tail;
  int64_t stdout_bytes = 0; ///< what it wrote in all
  int64_t stderr_bytes = 0;
  int64_t at = 0; ///< when it finished (epoch ms)
};

/// The most of each stream a store keeps of a job's output.
inline constexpr size_t k_stored_output_bytes = 64 * 1024;

/// The end of one slot's log (its jobs' starts and ends, its hooks' and
/// sidecar's output) as the store keeps it, for `muster logs --slot` on a
/// host that does not have the file. Slot numbers are unique per host.
struct StoredSlotLog {
  std::string host;
  int64_t slot = 0;
  std::string tail;  ///< its last k_stored_output_bytes, valid UTF-8
  int64_t bytes = 0; ///< the log's size in all
  int64_t at = 0;    ///< when the tail was taken (epoch ms)
};

/// What one commit did: the claims, and what it learned about the run.
struct CommitResult {
  std::vector<Claim> claims;
  /// Jobs the commit moved between states besides the claims and updates
  /// (limits, promotions, block_key), as signed changes per state.
  core::Counts moved;
  int64_t halted_until = 0; ///< the run is halted: nothing is claimed until then
  std::string halt_reason;
  /// When a job held back by a limit may next be claimable (epoch ms); 0 when
  /// none is held back by time (rate, day window).
  int64_t wake_at = 0;
  /// Results that changed nothing: their agent no longer owned the job (its
  /// lease was taken over). Each is recorded as a "result ignored" event.
  std::vector<int64_t> ignored;
};

/// A held lock.
struct LockRecord {
  std::string name;
  int64_t rid = 0;
  std::string run_id;
  std::string run_name;
  std::string job_id; ///< "" for a lock the run holds
  int64_t since = 0;
  Holder holder;          ///< the run's agent, or the --pid of `muster lock`
  std::string owner;      ///< set for a lock of `muster lock` (no run, rid 0)
  int64_t expires_at = 0; ///< epoch ms; 0: until unlocked (or its run ends)
};

/// Locks taken at run time, by `muster lock`.
struct LockRequest {
  std::vector<std::string> names;
  std::string owner;      ///< who holds them (--holder)
  Holder process;         ///< the process whose life bounds them (--pid); empty: none
  int64_t expires_at = 0; ///< epoch ms (--ttl); 0: until unlocked
};

/// What `drop_locks` did.
struct Unlocked {
  std::vector<std::string> freed;
  std::optional<LockRecord> other; ///< a name held by someone else: nothing freed
};

/// What a key has used: running jobs, and those counted in a day window.
using KeyUsage = core::KeyUsage;

/// What other terminals asked of a run's live agent.
struct Control {
  ControlRequest request = ControlRequest::none;
  int64_t target_slots = 0; ///< scale to this many slots; 0 for no request
  int64_t generation = 0;   ///< grows when jobs are added to the run
  int64_t resume_at = 0;    ///< a halt's end (epoch ms); 0 when not halted
};

/// A control action, as recorded: who did what, when, from where.
struct Event {
  int64_t at = 0;
  std::string host;
  std::string user;
  int64_t pid = 0;
  std::string action; ///< "pause", "resume", "cancel", "scale", "add", ...
  std::string detail;
};

/// Makes the event that records a change of `n` jobs ("3 job(s) from …"),
/// so that the event commits with the change it names.
using EventFor = std::function<Event(int64_t n)>;

/// A change of a run's control request, recorded with its event.
struct ControlChange {
  std::optional<ControlRequest> request; ///< none clears it; nullopt keeps it
  std::optional<int64_t> target_slots;   ///< nullopt keeps it
  bool lift_halt = false;                ///< also ends a halt's cooldown
  /// The run's new state, set by a command that acts for a run with no
  /// live agent (a pause of a stopped run).
  std::optional<core::RunState> state;
};

/// A job whose agent died while it ran.
struct Orphan {
  int64_t jid = 0;
  std::string id;
  std::optional<int64_t> pgid; ///< a process group on `host`
  int64_t started_at = 0;
  std::string host; ///< where it ran ("" before schema 11)
};

/// What taking a run over found.
struct Takeover {
  RunRecord run;
  std::vector<Orphan> orphans;   ///< jobs left `running` by a dead holder
  std::optional<Holder> held_by; ///< set, and nothing changed, when a live agent holds it
  std::optional<LockRecord>
      lock_conflict; ///< set, and nothing changed, when a lock is held
  int64_t aid = 0;   ///< this agent's id, when it got the run
};

/// Filters for job listings.
struct JobFilter {
  std::optional<core::JobState> state;
  std::optional<std::string> id;
  int64_t limit = -1;
};

/// What `muster retry` moves back to pending.
struct RetrySelection {
  bool failed = false;
  bool interrupted = false;
  std::optional<std::string> job_id;
};

/// What a full check of a store found.
struct CheckReport {
  std::string what;                  ///< what was checked (the database file)
  std::vector<std::string> problems; ///< in the backend's words; none when sound
  std::string advice;                ///< how to recover, when there are problems
};

/// Whether opening may create the store.
enum class Create { yes, no };
/// Whether the opener writes. A read-only opener never changes the store nor
/// creates a file in it, so it works on a store this user can only read.
enum class Access { read_write, read_only };
/// How hard each commit is pushed to disk.
enum class Durability { normal, full };

/// Storage of runs and jobs. SQLite now; PostgreSQL later.
class Store {
public:
  virtual ~Store() = default;

  /// normal: a commit survives a crash of muster; full: it also survives
  /// power loss (at-most-once runs ask for it before their first claim).
  virtual util::Result<void> set_durability(Durability d) = 0;

  /// Reads the whole store and checks that it is sound.
  virtual util::Result<CheckReport> check() = 0;

  /// Creates `run` and its jobs in one transaction. `next` yields jobs until it
  /// returns false; an error from it, or a duplicate id, rolls everything back.
  /// Fills in run.rid, run.id and run.total.
  virtual util::Result<void>
  create_run(RunRecord& run, const std::function<util::Result<bool>(NewJob&)>& next) = 0;

  /// Writes a copy of a run from another store (`muster copy`), in one
  /// transaction: the run with its id, name, settings, state and times,
  /// each job `next` yields in the state it was in, and `events`. No agent
  /// holds the copy. A run of that id or name here already: an error, and
  /// nothing is written. Fills in run.rid.
  virtual util::Result<void>
  import_run(RunRecord& run, const std::function<util::Result<bool>(JobRecord&)>& next,
             const std::vector<Event>& events) = 0;

  /// Finds a run by id, unique id prefix or name; nullopt-like error when none.
  virtual util::Result<RunRecord> find_run(const std::string& ref) = 0;
  /// The newest run, if any.
  virtual util::Result<std::optional<RunRecord>> latest_run() = 0;
  virtual util::Result<std::vector<RunRecord>> list_runs() = 0;
  virtual util::Result<core::Counts> counts(int64_t rid) = 0;
  virtual util::Result<std::vector<JobRecord>> jobs(int64_t rid,
                                                    const JobFilter& filter) = 0;
  /// Calls `fn` for each job in input order, without holding them all.
  virtual util::Result<void>
  each_job(int64_t rid, const std::function<void(const JobRecord&)>& fn) = 0;

  /// Makes `me` the run's holder, unless a live agent holds it (`is_alive`
  /// decides). Jobs a dead holder left running are returned as orphans and
  /// moved per on_interrupt: requeue → pending, hold → interrupted. With
  /// requeue, interrupted jobs go back to pending too. Atomic: of agents
  /// acquiring at once, one becomes the holder and the others see held_by;
  /// a run lock held by a live holder changes nothing (lock_conflict).
  virtual util::Result<Takeover>
  acquire(int64_t rid, const Holder& me,
          const std::function<bool(const Holder&)>& is_alive) = 0;
  /// Records `updates` (a started job's pid, a finished attempt's result) for
  /// agent `aid`, in one transaction. Returns what else moved (promotions,
  /// block_key); `claims` stays empty.
  virtual util::Result<CommitResult> record(int64_t rid,
                                            const std::vector<Update>& updates,
                                            int64_t now_ms, int64_t aid = 0) = 0;
  /// Claims up to `free_slots.size()` due jobs for those slots (slot
  /// numbers), for agent `aid`, in one transaction. Claims respect the run's
  /// halt, its limits and job locks; a job held back is moved to `waiting`
  /// with the reason. Returns the claims in slot order.
  virtual util::Result<CommitResult> claim(int64_t rid,
                                           const std::vector<int64_t>& free_slots,
                                           int64_t now_ms, int64_t aid = 0) = 0;
  /// Asks to hear what other connections commit to run `rid`: jobs added,
  /// control requests, retries, recovered jobs. Then wake_fd() becomes
  /// readable and changed() says so. A store without notifications (SQLite)
  /// does nothing, and its agents poll.
  virtual util::Result<void> listen(int64_t rid) { return {}; }
  /// For an agent's store, whose transactions never wait on input: a
  /// transaction whose client stops answering in the middle of it (a host
  /// cut off, or frozen) ends after `ms`, and with it the write lock it
  /// holds, instead of when TCP gives up (hours), so that the other agents
  /// are not held up past their leases. Nothing on SQLite, whose lock a
  /// dead process lets go of at once.
  virtual util::Result<void> limit_idle_transactions(int64_t ms) { return {}; }
  /// A descriptor to wait on (edge-triggered) for listen()'s news; -1: none.
  virtual int wake_fd() const { return -1; }
  /// Whether news came since the last call. Never blocks.
  virtual bool changed() { return false; }
  /// `record`, then `claim`, in one transaction: the agent's one round trip
  /// per turn.
  virtual util::Result<CommitResult> commit(int64_t rid,
                                            const std::vector<Update>& updates,
                                            const std::vector<int64_t>& free_slots,
                                            int64_t now_ms, int64_t aid = 0) = 0;
  /// Adds agent `me` to a run another live agent holds (`muster join`). With
  /// no live holder it is `acquire`. Jobs of agents that are gone are
  /// recovered as `acquire` does.
  virtual util::Result<Takeover>
  join(int64_t rid, const Holder& me,
       const std::function<bool(const Holder&)>& is_alive) = 0;
  /// Leases the `n` lowest slot numbers free on `host` for this run to agent
  /// `aid`, so agents on one host never share a slot (or its ports), even
  /// when they take slots at once.
  virtual util::Result<std::vector<int64_t>>
  take_slots(int64_t rid, int64_t aid, const std::string& host, int64_t n) = 0;
  /// Renews the agent's heartbeat and its jobs' leases (until now + lease_ms),
  /// records its slots' states, and says which running jobs are still its own.
  /// An agent that was found gone (offline) renews nothing: its jobs are
  /// another's now, and it must stop them unrecorded (fencing).
  virtual util::Result<Beat> beat(int64_t rid, int64_t aid, double rate,
                                  const std::vector<SlotReport>& slots, int64_t now_ms,
                                  int64_t lease_ms) = 0;
  /// Finds the run's agents that are gone (no heartbeat for 3 intervals, or a
  /// dead process on this host) other than `me`, marks them offline, and
  /// recovers their running jobs per on_interrupt, their locks and slots.
  /// Returns the recovered jobs, for killing what is left of them. Of
  /// agents recovering at once, each job is recovered by one.
  virtual util::Result<std::vector<Orphan>>
  recover(int64_t rid, int64_t me, const std::function<bool(const Holder&)>& is_alive,
          int64_t now_ms) = 0;
  /// The agent stopped: it gives its slot numbers back.
  virtual util::Result<void> stop_agent(int64_t aid, int64_t now_ms) = 0;
  /// Deletes a run and everything recorded about it (jobs, events, agents,
  /// counts, locks), in one transaction. Its files are the caller's.
  virtual util::Result<void> delete_run(int64_t rid) = 0;
  /// Agents of run `rid` (every run when 0), newest first.
  virtual util::Result<std::vector<AgentRecord>> agents(int64_t rid) = 0;
  /// The earliest retry_at among retrying jobs, or 0.
  virtual util::Result<int64_t> next_retry_at(int64_t rid) = 0;
  /// Gives the run up, leaving it in `state`; when other live agents still
  /// run it, one of them becomes its holder and the state stays.
  virtual util::Result<void> release(int64_t rid, core::RunState state) = 0;
  /// Moves the selected jobs back to pending with a fresh set of attempts,
  /// and records event(moved), in one transaction. Returns how many moved.
  virtual util::Result<int64_t> retry(int64_t rid, const RetrySelection& sel,
                                      const EventFor& event) = 0;
  virtual util::Result<void> set_run_state(int64_t rid, core::RunState state) = 0;
  /// Replaces the run's settings, in one transaction with the jobs that
  /// will still run (pending, retrying, waiting): each one's max_attempts
  /// moves by the change in the run's, and keeps at least one attempt left.
  /// Its holder calls it, right after acquire, to apply a re-run's new
  /// --retries or --timeout.
  virtual util::Result<void> retune(int64_t rid, const core::RunSettings& settings) = 0;

  /// The run's control request, slot target and generation.
  virtual util::Result<Control> control(int64_t rid) = 0;
  /// Applies `change` and records `event`, in one transaction. Live agents
  /// see it at their next control() read; a claim committed after it sees it
  /// too.
  virtual util::Result<void> set_control(int64_t rid, const ControlChange& change,
                                         const Event& event) = 0;
  virtual util::Result<void> add_event(int64_t rid, const Event& event) = 0;
  virtual util::Result<std::vector<Event>> events(int64_t rid) = 0;
  /// Whether agents keep each job's output tail in the store (their results
  /// say output_kept): where they may run on many hosts, so that `muster
  /// logs` works from any of them. Output files stay local either way.
  virtual bool keeps_output() const { return false; }
  /// The output kept of job `jid`'s last finished attempt; none if none.
  virtual util::Result<std::optional<StoredOutput>> stored_output(int64_t jid) = 0;
  /// The output kept of every job of the run that has some, by job id
  /// (`muster copy`).
  virtual util::Result<std::vector<std::pair<std::string, StoredOutput>>>
  stored_outputs(int64_t rid) = 0;
  /// Keeps these outputs for the run's jobs of those ids (one transaction),
  /// in place of what was kept; an id the run does not have is skipped.
  virtual util::Result<void>
  keep_outputs(int64_t rid,
               const std::vector<std::pair<std::string, StoredOutput>>& outputs) = 0;
  /// Replaces the tails kept of these slots' logs (one transaction).
  virtual util::Result<void> keep_slot_logs(int64_t rid,
                                            const std::vector<StoredSlotLog>& logs) = 0;
  /// The tails kept of slot `slot`'s log, one per host that ran it, by host;
  /// with slot -1, of every slot, by slot then host.
  virtual util::Result<std::vector<StoredSlotLog>> stored_slot_logs(int64_t rid,
                                                                    int64_t slot) = 0;
  /// Appends jobs to a run after its last one and records event(added), in
  /// one transaction; a duplicate id or an error from `next` rolls
  /// everything back. Returns how many were added.
  virtual util::Result<int64_t>
  add_jobs(int64_t rid, const std::function<util::Result<bool>(NewJob&)>& next,
           const EventFor& event) = 0;
  /// Moves every job that has not started (pending, waiting, retrying,
  /// interrupted) to cancelled. Returns how many moved.
  virtual util::Result<int64_t> cancel_rest(int64_t rid, int64_t now_ms) = 0;

  /// Every held lock, by name (an expired one is not held).
  virtual util::Result<std::vector<LockRecord>> locks() = 0;
  /// Takes `request.names` for `request.owner` (`muster lock`), all or
  /// none; a name the owner holds already is renewed. Returns the first lock
  /// held by another (a live run, or another owner before its expiry and
  /// while its process lives), and then takes nothing. Locks of gone holders
  /// are freed on the way.
  virtual util::Result<std::optional<LockRecord>>
  take_locks(const LockRequest& request, int64_t now_ms,
             const std::function<bool(const Holder&)>& is_alive) = 0;
  /// Frees the `names` that `owner` holds (all it holds when `names` is
  /// empty), all or none: a name another holds frees nothing and is
  /// returned. Jobs waiting on a freed name wake.
  virtual util::Result<Unlocked> drop_locks(const std::vector<std::string>& names,
                                            const std::string& owner, int64_t now_ms) = 0;
  /// Frees the locks of `muster lock` that expired or whose process is gone,
  /// and wakes their waiters. An agent calls it with its heartbeat.
  virtual util::Result<void>
  free_gone_locks(int64_t now_ms, const std::function<bool(const Holder&)>& is_alive) = 0;
  /// The first of `names` held by a live holder other than run `rid`.
  virtual util::Result<std::optional<LockRecord>>
  lock_conflict(const std::vector<std::string>& names, int64_t rid,
                const std::function<bool(const Holder&)>& is_alive) = 0;
  /// How much `key` has used: running jobs, and attempts (or successes) in
  /// the day window that starts at `window_start`; in run `rid`, or in every
  /// run of the store (limit_scope = "store").
  virtual util::Result<KeyUsage> key_usage(int64_t rid, const std::string& key,
                                           core::LimitScope scope,
                                           int64_t window_start) = 0;
};

} // namespace muster::store
