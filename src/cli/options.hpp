#pragma once
// The parsed options of each subcommand. app.cpp fills them from the command
// line; one file per subcommand acts on them.

#include "core/run.hpp"
#include "core/slots.hpp"

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace muster::cli {

/// Options every subcommand takes.
struct GlobalOptions {
  std::string store;      ///< --store, else $MUSTER_STORE, else ./.muster
  std::string store_mode; ///< --store-mode, else $MUSTER_STORE_MODE ("": 0700)
  bool json = false;
  bool quiet = false;
  /// run, validate, show-config: the words from the command on, split off
  /// before the options are parsed, so that none of them is read as one.
  std::vector<std::string> command;
};

/// How jobs' output reaches muster's stdout and stderr (run, resume, join).
struct OutputFlags {
  bool no_stdout = false;
  bool no_stderr = false;
  bool keep_order = false; ///< -k
  bool line_buffer = false;
  bool ungroup = false; ///< -u
  bool tag = false;
  std::string tagstring; ///< --tagstring TEMPLATE ("" for none)
  /// --exit-code count: exit with the number of failed jobs (at most 100), as
  /// GNU parallel does, instead of muster's codes.
  std::string exit_code = "default";
  double load = 0;     ///< --load N: no new job while the load average is above N
  std::string memfree; ///< --memfree SIZE: no new job while less memory is available
};

/// What `run`'s options are for.
enum class RunMode { run, validate, show_config };

struct RunOptions {
  RunMode mode = RunMode::run;
  std::string config;             ///< --config ("" to look for ./muster.toml)
  std::string config_used;        ///< the file that was read, if any
  std::string config_store;       ///< its `store` (applied before any command runs)
  std::set<std::string> given;    ///< options given on the command line, by long name
  std::vector<std::string> flags; ///< every long option `run` takes, for "did you mean"
  std::vector<core::PortSpec> ports;
  core::SlotSettings slot; ///< [slots] of the config: directories, hooks, stagger
  int64_t slots = 0;       ///< 0: one per CPU
  std::vector<std::string> inputs;
  std::string format;
  std::string json_path;
  std::string id_column;
  std::string key;
  bool shell = false;
  bool pty = false;
  int64_t retries = 1;
  std::string backoff = "1s";
  std::string backoff_max = "5m";
  std::string timeout;
  std::string kill_grace = "10s";
  std::string grace = "30s";
  std::string on_interrupt = "requeue";
  std::string max_output = "1M";
  std::string name;
  bool seed_only = false;
  bool dry_run = false; ///< print each job's argv; create nothing
  std::string halt;     ///< --halt now|soon,fail=N|P%
  OutputFlags output;
  bool no_wait = false; ///< end (exit 3 or 4) instead of waiting out a halt or a window
  bool wait_locks = false;      ///< wait for held run locks instead of refusing
  std::string heartbeat = "2s"; ///< how often the agent sends heartbeats
  std::string deadline;         ///< --deadline: how long this muster runs the run at most
  std::vector<core::Rule> rules; ///< [[rules]] of the config
  std::string halt_mode = "drain";
  int64_t per_key = 0;
  int64_t per_key_daily = 0;
  std::string day_starts = "00:00";
  std::string timezone;
  std::string count = "attempts";
  std::string limit_scope = "run";
  std::string rate;
  std::string priority;
  std::vector<std::string> locks;
  std::vector<std::string> job_locks;
  std::vector<std::string> command; ///< the command words, then `:::` groups
  std::vector<std::string>
      command_words; ///< the command alone (from the line, or the config)
};

struct ResumeOptions {
  std::string run;
  bool all = false;  ///< every paused run a live agent runs
  int64_t slots = 0; ///< 0: the run's own
  OutputFlags output;
  std::string halt; ///< --halt now|soon,fail=N|P%
  bool no_wait = false;
  bool wait_locks = false;
  bool now = false; ///< end a halt's cooldown now
  std::string heartbeat = "2s";
  std::string deadline;
};

struct ListOptions {
  std::string status; ///< only runs in this state
  int64_t limit = -1; ///< the newest N
};

struct WorkersOptions {
  std::string run;    ///< "" for every run
  std::string status; ///< idle, busy, offline or starting
  bool all = false;   ///< also the agents of runs that have ended
};

struct CleanupOptions {
  double days = -1;
  bool dry_run = false;
};

struct JoinOptions {
  std::string run;
  int64_t slots = 0;
  OutputFlags output;
  bool no_wait = false;
  std::string heartbeat = "2s";
};

struct CompleteOptions {
  std::string what; ///< "runs", or "jobs" of `run`
  std::string run;
};

struct PauseOptions {
  std::string run;
  bool all = false; ///< every run a live agent runs
  bool stop_running = false;
};

struct CancelOptions {
  std::string run;
  bool force = false;
};

struct ScaleOptions {
  std::string run;
  int64_t slots = 0;
};

struct AddOptions {
  std::string run;
  std::vector<std::string> inputs;
  std::string format;
  std::string json_path;
};

struct EventsOptions {
  std::string run;
};

struct LockOptions {
  std::vector<std::string> names;
  std::string holder;
  std::string ttl;
  int64_t pid = 0;
  bool wait = false;
};

struct WhyOptions {
  std::string run;
  std::string job;
};

struct StatusOptions {
  std::string run; ///< "" for the newest
};

struct JobsOptions {
  std::string run;
  std::string state;
  int64_t limit = -1;
};

struct LogsOptions {
  std::string run;
  std::string job;
  int64_t slot = -1; ///< --slot N: the slot's log instead of a job's output
  std::string host;  ///< --host H: slot N of that host (slot numbers are per host)
  bool stdout_only = false;
  bool stderr_only = false;
  bool follow = false; ///< -f: go on printing while the job (or the run) runs
};

struct CopyOptions {
  std::string run;
  std::string to; ///< the other store
};

struct ExportOptions {
  std::string run;
  std::string format = "csv";
  std::string output;  ///< "" for stdout
  std::string columns; ///< --columns a,b,c: which CSV columns, in order
};

struct RetryOptions {
  std::string run;
  bool failed = false;
  bool interrupted = false;
  std::string job;
};

int cmd_run(const GlobalOptions& g, RunOptions o);
/// `muster validate` and `muster show-config`: cmd_run in another mode.
int cmd_resume(const GlobalOptions& g, const ResumeOptions& o);
int cmd_status(const GlobalOptions& g, const StatusOptions& o);
int cmd_list(const GlobalOptions& g, const ListOptions& o);
int cmd_workers(const GlobalOptions& g, const WorkersOptions& o);
int cmd_summary(const GlobalOptions& g);
int cmd_cleanup(const GlobalOptions& g, const CleanupOptions& o);
int cmd_jobs(const GlobalOptions& g, const JobsOptions& o);
int cmd_logs(const GlobalOptions& g, const LogsOptions& o);
int cmd_export(const GlobalOptions& g, const ExportOptions& o);
int cmd_copy(const GlobalOptions& g, const CopyOptions& o);
int cmd_retry(const GlobalOptions& g, const RetryOptions& o);
int cmd_stop_all(const GlobalOptions& g);
int cmd_doctor(const GlobalOptions& g);
int cmd_complete(const GlobalOptions& g, const CompleteOptions& o);
int cmd_why(const GlobalOptions& g, const WhyOptions& o);
int cmd_pause(const GlobalOptions& g, const PauseOptions& o);
int cmd_join(const GlobalOptions& g, const JoinOptions& o);
int cmd_cancel(const GlobalOptions& g, const CancelOptions& o);
int cmd_scale(const GlobalOptions& g, const ScaleOptions& o);
int cmd_add(const GlobalOptions& g, const AddOptions& o);
int cmd_events(const GlobalOptions& g, const EventsOptions& o);
int cmd_locks(const GlobalOptions& g);
int cmd_lock(const GlobalOptions& g, const LockOptions& o);
int cmd_unlock(const GlobalOptions& g, const LockOptions& o);
int cmd_check(const GlobalOptions& g);

/// Parses argv and runs the subcommand; returns the exit code.
int main(int argc, char** argv);

} // namespace muster::cli
