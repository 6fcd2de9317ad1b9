#pragma once
// A run's settings: everything needed to run its jobs again after a crash.

#include "core/backoff.hpp"
#include "core/job.hpp"
#include "core/limits.hpp"
#include "core/rules.hpp"
#include "core/slots.hpp"
#include "core/template.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace muster::core {

/// What every slot sets up for itself before its first job, and undoes at the end.
struct SlotSettings {
  bool dir = false;                     ///< a private directory per slot ({slot_dir})
  std::string dir_from;                 ///< a template directory copied into it
  std::vector<std::string> dir_exclude; ///< names not copied (fnmatch patterns)
  bool dir_keep = false;                ///< keep the directories after the run
  std::string setup;                    ///< sh script run once per slot, first
  std::string teardown;                 ///< sh script run once per slot, on every way out
  std::string before_job;               ///< sh script run before each job, in its group
  std::string after_job;                ///< sh script run after each job, in its group
  int64_t stagger_ms = 0;               ///< slot s starts s × this after the first
  std::vector<std::string> sidecar;     ///< a long-lived service per slot (argv words)
  std::string ready;                    ///< "http://…", "tcp://…" or "cmd:SCRIPT"
  int64_t ready_timeout_ms = 30'000;    ///< how long a sidecar may take to be ready
  int64_t max_restarts = 3;             ///< restarts of a sidecar that died
  bool any() const {
    return dir || !setup.empty() || !teardown.empty() || !sidecar.empty() ||
           !before_job.empty() || !after_job.empty();
  }
};

/// The settings a run keeps in the store. `muster resume` runs with these.
struct RunSettings {
  std::vector<std::string> command; ///< the command template's words
  Shell shell = Shell::no;
  bool pty = false; ///< each job's stdin, stdout and stderr are a pseudo-terminal
  int64_t slots = 1;
  int64_t max_attempts = 1; ///< --retries
  BackoffPolicy backoff;
  int64_t timeout_ms = 0; ///< 0: none
  int64_t kill_grace_ms = 10'000;
  int64_t grace_ms = 30'000;
  OnInterrupt on_interrupt = OnInterrupt::requeue;
  uint64_t max_output = 1024 * 1024; ///< bytes kept per stream per job (the tail)
  std::string key;                   ///< the --key template ("" for none)
  std::string id_column;             ///< --id-column ("" for the row position)
  std::vector<std::string> inputs;   ///< where the rows came from, for people
  std::vector<PortSpec> ports;       ///< named ports every slot owns
  SlotSettings slot;                 ///< directories, hooks and stagger
  std::vector<Rule> rules;           ///< what outcomes mean, tried in order
  HaltMode halt_mode = HaltMode::drain;
  Limits limits;                      ///< per-key and rate limits, enforced by the store
  std::string priority;               ///< template of each job's priority ("" for none)
  std::vector<std::string> locks;     ///< names the run holds while an agent runs it
  std::vector<std::string> job_locks; ///< templates of the locks each job holds
};

/// The counts of a run's jobs by state, indexed by JobState.
struct Counts {
  int64_t by_state[9] = {};
  int64_t& operator[](JobState s) { return by_state[static_cast<size_t>(s)]; }
  int64_t operator[](JobState s) const { return by_state[static_cast<size_t>(s)]; }
  int64_t total() const;
  /// succeeded + failed + skipped + cancelled.
  int64_t finished() const;
};

} // namespace muster::core
