#include "ui/progress.hpp"

#include "util/files.hpp"
#include "util/strings.hpp"
#include "util/time.hpp"

#include <algorithm>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace muster::ui {

using core::JobState;

namespace {

/// A failed job's header shows at most this much of its command.
constexpr size_t k_header_command = 200;

std::string count(int64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) {
      out += ',';
    }
    out += digits[i];
  }
  return out;
}

} // namespace

ProgressPrinter::ProgressPrinter(ProgressOptions options, Terminal err_terminal)
    : m_opts(options), m_term(err_terminal),
      m_output(m_opts.output, [this] { clear_line(); }) {
  m_term.smart = m_term.smart && m_opts.live;
}

ProgressPrinter::~ProgressPrinter() {
  clear_line();
}

std::string ProgressPrinter::line(const std::string& run_id, const agent::Progress& p,
                                  size_t width) {
  const auto& c = p.counts;
  // "done" is finished, whatever the end; the failures are named beside it.
  std::string counts = count(c.finished()) + "/" + count(p.total) + " done";
  if (c[JobState::failed] > 0) {
    counts += ", " + count(c[JobState::failed]) + " failed";
  }
  counts += ", " + count(c[JobState::running]) + " running";
  if (c[JobState::retrying] > 0) {
    counts += ", " + count(c[JobState::retrying]) + " retrying";
  }
  const std::string head = "[" + run_id + "] ";
  const std::string rate = " | " + util::format_rate(p.rate);
  const std::string elapsed = " | " + util::format_duration(p.elapsed_ms);
  std::string tail;
  if (p.eta_ms >= 0 && c.finished() < p.total) {
    tail += " | ETA " + util::format_duration(p.eta_ms);
  }
  if (p.draining) {
    tail += " | stopping";
  }
  // Dropped in this order when the line is too wide.
  const std::string* optional[] = {&rate, &elapsed, &head};
  bool keep[3] = {true, true, true};
  auto length = [&] {
    size_t n = counts.size() + tail.size();
    for (size_t k = 0; k < 3; ++k) {
      n += keep[k] ? optional[k]->size() : 0;
    }
    return n;
  };
  for (size_t k = 0; width > 0 && k < 3 && length() > width; ++k) {
    keep[k] = false;
  }
  std::string s = (keep[2] ? head : "") + counts + (keep[0] ? rate : "") +
                  (keep[1] ? elapsed : "") + tail;
  if (width > 0 && s.size() > width) {
    // Still too wide: the end of the counts goes, the ETA stays.
    const size_t room = width > tail.size() + 1 ? width - tail.size() - 1 : 0;
    s = util::truncate_columns(counts, room) + "…" + tail;
    s = util::truncate_columns(s, width);
  }
  return s;
}

void ProgressPrinter::clear_line() {
  m_output.before_message();
  if (m_line_shown) {
    std::fputs("\r\x1b[K", stderr);
    std::fflush(stderr);
    m_line_shown = false;
  }
}

void ProgressPrinter::draw(const agent::Progress& p) {
  if (m_opts.quiet) {
    return;
  }
  const int64_t now = util::monotonic_ms();
  if (m_term.smart) {
    std::string text =
        line(m_run_id, p, static_cast<size_t>(std::max(m_term.columns() - 1, 10)));
    std::fprintf(stderr, "\r%s\x1b[K", text.c_str());
    std::fflush(stderr);
    m_line_shown = true;
    m_last_draw = now;
  } else if (now - m_last_plain >= m_opts.plain_every_ms) {
    std::fprintf(stderr, "muster: %s\n", line(m_run_id, p).c_str());
    m_last_plain = now;
  }
}

void ProgressPrinter::started(const std::string& run_id, const agent::Progress& p) {
  m_run_id = run_id;
  m_last_plain = util::monotonic_ms();
  if (m_term.smart) {
    draw(p);
  }
}

void ProgressPrinter::job_started(const agent::StartedJob& job) {
  m_output.started(job);
}

void ProgressPrinter::output(pid_t pid, bool is_stderr, std::string_view data) {
  m_output.output(pid, is_stderr, data);
}

void ProgressPrinter::finished(const agent::Finished& job, const agent::Progress& p) {
  std::string header;
  if (job.state == JobState::retrying) {
    clear_line();
    std::fprintf(stderr, "muster: job %s attempt %lld %s; retrying in %s\n",
                 job.job_id.c_str(), static_cast<long long>(job.attempt),
                 job.outcome.error.c_str(),
                 util::format_duration(job.retry_in_ms).c_str());
  } else if (job.state == JobState::failed ||
             job.outcome.type == core::ErrorType::interrupted ||
             job.outcome.type == core::ErrorType::cancelled) {
    const bool failed = job.state == JobState::failed;
    header =
        m_term.paint("── job " + job.job_id + (failed ? " failed: " : " ") +
                         job.outcome.error + " (attempt " + std::to_string(job.attempt) +
                         ", slot " + std::to_string(job.slot) + ") ── " +
                         util::shorten_middle(job.command, k_header_command),
                     failed ? "1;31" : "1;33") +
        "\n";
  }
  m_output.finished(job, header);
  if (m_term.smart && (util::monotonic_ms() - m_last_draw >= 100 || !m_line_shown)) {
    draw(p);
  }
}

void ProgressPrinter::tick(const agent::Progress& p) {
  if (m_term.smart && util::monotonic_ms() - m_last_draw < 100) {
    return;
  }
  draw(p);
}

void ProgressPrinter::draining(int signal, int64_t grace_ms, int64_t running) {
  clear_line();
  if (signal == SIGPIPE) {
    return; // the reader of the output left: nothing to say to anyone
  }
  const char* name = sigabbrev_np(signal);
  std::fprintf(stderr,
               "muster: SIG%s: no new jobs; waiting up to %s for %lld running job(s). "
               "Again to stop now.\n",
               name ? name : "?", util::format_duration(grace_ms).c_str(),
               static_cast<long long>(running));
}

void ProgressPrinter::paused(const std::string& why, int64_t until_ms) {
  clear_line();
  if (m_opts.quiet) {
    return;
  }
  std::string until;
  if (until_ms > 0) {
    until = "; claims go on at " + util::format_clock(until_ms) + " (in " +
            util::format_duration(std::max<int64_t>(0, until_ms - util::now_ms())) + ")";
  }
  std::fprintf(stderr, "muster: %s%s\n", why.c_str(), until.c_str());
}

void ProgressPrinter::notice(const std::string& message) {
  clear_line();
  if (!m_opts.quiet) {
    std::fprintf(stderr, "muster: %s\n", message.c_str());
  }
}

void ProgressPrinter::unpaused() {
  clear_line();
  if (!m_opts.quiet) {
    std::fprintf(stderr, "muster: claiming again\n");
  }
}

void ProgressPrinter::ended(const agent::Progress& p) {
  m_output.flush();
  m_output.drain(); // the summary comes after the jobs' output
  clear_line();
  if (m_opts.quiet || m_output.closed()) {
    return;
  }
  const auto& c = p.counts;
  std::string s = "muster: run " + m_run_id + ": " +
                  m_term.paint(count(c[JobState::succeeded]) + " succeeded", "32");
  if (c[JobState::failed] > 0) {
    s += ", " + m_term.paint(count(c[JobState::failed]) + " failed", "31");
  }
  const int64_t held = p.draining ? 0 : c[JobState::interrupted];
  if (held > 0) {
    s += ", " + count(held) + " interrupted and held (muster retry " + ref() +
         " --interrupted)";
  }
  const int64_t left = p.total - c.finished() - held;
  if (left > 0) {
    s += ", " + count(left) + " left (muster resume " + ref() + ")";
  }
  s += " in " + util::format_duration(p.elapsed_ms);
  if (p.elapsed_ms >= 1000 && c.finished() > 0) {
    // A rate over less than a second says nothing.
    s += " (" +
         util::format_rate(static_cast<double>(c.finished()) * 1000.0 /
                           static_cast<double>(p.elapsed_ms)) +
         ")";
  }
  std::fprintf(stderr, "%s\n", s.c_str());
}

void ProgressPrinter::warning(const std::string& message) {
  clear_line();
  std::fprintf(stderr, "muster: warning: %s\n", message.c_str());
}

} // namespace muster::ui
