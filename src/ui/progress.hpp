#pragma once
// The run's voice: a live progress line on a smart terminal, plain lines
// otherwise, a summary at the end, and a header over each failed job. Jobs'
// output goes through an OutputWriter, in the mode asked for.

#include "agent/reporter.hpp"
#include "ui/output.hpp"
#include "ui/terminal.hpp"

#include <cstdio>
#include <string>

namespace muster::ui {

/// What to print.
struct ProgressOptions {
  bool quiet = false;              ///< -q: no progress and no summary
  bool live = true;                ///< draw the live line when stderr is a smart terminal
  OutputOptions output;            ///< where and how jobs' output goes
  int64_t plain_every_ms = 10'000; ///< plain-line interval when not on a tty
  std::string run_ref;             ///< how hints name the run: its name, or "" for its id
};

/// Prints progress to stderr and job output to stdout.
class ProgressPrinter final : public agent::Reporter {
public:
  ProgressPrinter(ProgressOptions options, Terminal err_terminal);
  ~ProgressPrinter() override;

  void started(const std::string& run_id, const agent::Progress& p) override;
  void job_started(const agent::StartedJob& job) override;
  void output(pid_t pid, bool is_stderr, std::string_view data) override;
  void finished(const agent::Finished& job, const agent::Progress& p) override;
  bool output_closed() const override { return m_output.closed(); }
  /// Why the jobs' output could not be written to stdout or stderr, or "".
  std::string output_error() const { return m_output.write_error(); }
  bool backlogged() const override { return m_output.backlogged(); }
  void tick(const agent::Progress& p) override;
  void draining(int signal, int64_t grace_ms, int64_t running) override;
  void ended(const agent::Progress& p) override;
  void warning(const std::string& message) override;
  void notice(const std::string& message) override;
  void paused(const std::string& why, int64_t until_ms) override;
  void unpaused() override;

  /// The status line for `p`, without colour or cursor control, in at most
  /// `width` columns (0: any): the rate, the elapsed time and the run id go
  /// first, so that the counts and the ETA stay.
  static std::string line(const std::string& run_id, const agent::Progress& p,
                          size_t width = 0);

private:
  void clear_line();
  void draw(const agent::Progress& p);

  ProgressOptions m_opts;
  Terminal m_term;
  OutputWriter m_output;
  std::string m_run_id;
  /// The run as hints name it: a name is easier to type again than an id.
  std::string ref() const { return m_opts.run_ref.empty() ? m_run_id : m_opts.run_ref; }
  bool m_line_shown = false;
  int64_t m_last_draw = 0;
  int64_t m_last_plain = 0;
};

} // namespace muster::ui
