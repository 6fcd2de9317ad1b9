#pragma once
// GNU parallel's --halt: stop once enough jobs have failed.

#include "util/result.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace muster::agent {

struct HaltOnFailure {
  bool now = false;    ///< stop running jobs too (else let them finish: "soon")
  int64_t count = 0;   ///< fail=N: after N failed jobs; 0 when unset
  int64_t percent = 0; ///< fail=P%: after P% of the run's jobs failed; 0 when unset
  std::string text;    ///< as given, for messages
  bool enabled() const { return count > 0 || percent > 0; }
};

/// Parses "now,fail=N", "soon,fail=N", "now,fail=P%" or "never".
util::Result<HaltOnFailure> parse_halt_on_failure(std::string_view text);

/// Counts the jobs an agent saw fail for good, against its --halt rule.
class FailFast {
public:
  explicit FailFast(HaltOnFailure rule) : m_rule(std::move(rule)) {}
  /// One more job failed. True when the rule is set and, with it, `total`
  /// jobs in the run, its limit is now reached.
  bool failed(int64_t total) {
    ++m_failures;
    return m_rule.count > 0
               ? m_failures >= m_rule.count
               : m_rule.percent > 0 && m_failures * 100 >= m_rule.percent * total;
  }
  int64_t failures() const { return m_failures; }
  const HaltOnFailure& rule() const { return m_rule; }

private:
  HaltOnFailure m_rule;
  int64_t m_failures = 0;
};

} // namespace muster::agent
