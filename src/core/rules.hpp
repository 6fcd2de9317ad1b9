#pragma once
// Rules: what an attempt's outcome means. Each rule matches an exit code, a
// pattern in the attempt's output (RE2, so any pattern runs in linear time), or
// both, and names an action. A job may also say itself what happened, in the
// JSON file at $MUSTER_RESULT; that file wins over the rules.

#include "core/job.hpp"
#include "util/result.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace re2 {
class RE2;
}

namespace muster::core {

/// What to do with a job after an attempt.
enum class Action {
  none,    ///< no rule matched: the default (exit 0 succeeds, else retry)
  succeed, ///< the job succeeded, whatever its exit status
  retry,   ///< try again after the backoff (or retry_after), while attempts remain
  fail,    ///< failed for good
  halt,    ///< stop claiming for the whole run until the cooldown ends; requeue the job
};
std::string_view to_string(Action action);
std::optional<Action> parse_action(std::string_view text);

/// How a run treats jobs already running when a rule halts it.
enum class HaltMode {
  drain, ///< they finish
  stop,  ///< they are stopped and requeued, without spending an attempt
};
std::string_view to_string(HaltMode mode);
std::optional<HaltMode> parse_halt_mode(std::string_view text);

/// One [[rules]] entry.
/// How many times one job may halt its run before it fails instead.
inline constexpr int64_t k_default_max_halts = 5;

struct Rule {
  std::string match;           ///< RE2 pattern searched in the output; "" for any
  std::vector<int> exit_codes; ///< exit codes it applies to; empty for any
  Action action = Action::retry;
  int64_t cooldown_ms = 15 * 60'000; ///< halt: how long the run stops claiming
  int64_t max_halts =
      k_default_max_halts;     ///< halt: a job that halted this often fails instead
  bool block_key = false;      ///< fail: skip the key's other jobs too
  std::string error_type;      ///< recorded error_type; "{match}" is the matched text
  int64_t retry_after_ms = -1; ///< retry: this delay instead of the backoff
  std::string where;           ///< "FILE:LINE", for messages
};

/// What the rules (or the result file) made of an attempt.
struct Decision {
  Action action = Action::none;
  std::string error_type;                  ///< "" keeps the outcome's own
  std::string message;                     ///< "" keeps the outcome's own
  int64_t retry_after_ms = -1;             ///< retry: a fixed delay
  int64_t cooldown_ms = 0;                 ///< halt: how long
  int64_t max_halts = k_default_max_halts; ///< halt: at most this many halts by one job
  bool block_key = false;                  ///< fail: skip the key's other jobs
  std::string source;                      ///< "rule 2 (muster.toml:14)" or "result file"
};

/// The compiled rules of a run, tried in order; the first match wins.
class RuleSet {
public:
  RuleSet();
  ~RuleSet();
  RuleSet(RuleSet&&) noexcept;
  RuleSet& operator=(RuleSet&&) noexcept;

  /// Compiles every pattern; an error names the rule's file and line.
  static util::Result<RuleSet> compile(const std::vector<Rule>& rules);
  bool empty() const { return m_rules.empty(); }
  /// True when some rule looks at the output (so it must be read).
  bool needs_output() const;
  /// The first rule that matches `outcome` and `output`, as a decision; a
  /// decision with Action::none when none does. Stops by muster itself and
  /// commands that could not start are never classified.
  Decision classify(const Outcome& outcome, std::string_view output) const;

private:
  struct Compiled {
    Rule rule;
    std::unique_ptr<re2::RE2> re;
  };
  std::vector<Compiled> m_rules;
};

/// Reads a result file: {"outcome": "succeed|retry|fail|halt", "error_type",
/// "message", "retry_after", "cooldown", "block_key"}. Durations are strings
/// such as "30s", or numbers of seconds. An error says what is wrong.
util::Result<Decision> parse_result_file(std::string_view text);

/// The job's next state once `decision` is applied to an attempt whose
/// outcome is `outcome`; `attempts` counts the attempts that count.
JobState state_after(const Outcome& outcome, const Decision& decision, int64_t attempts,
                     int64_t max_attempts);

} // namespace muster::core
