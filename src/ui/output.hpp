#pragma once
// Jobs' output on muster's own stdout and stderr, byte for byte, in one of
// GNU parallel's modes: each job's output whole when it ends (the default),
// the same in input order (-k), lines as they come (--line-buffer), or raw
// (-u); each line prefixed with the job's tag (--tag). Writes go straight to
// the file descriptors, so that nothing is added, cut or reordered by stdio.

#include "agent/reporter.hpp"
#include "ui/output_pump.hpp"

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

namespace muster::ui {

enum class OutputMode {
  group,       ///< each job's output whole when it ends, never interleaved
  keep_order,  ///< the same, in the order the jobs started (input order)
  line_buffer, ///< whole lines as they come, never cut mid-line
  ungroup,     ///< bytes as they come
};

struct OutputOptions {
  OutputMode mode = OutputMode::group;
  bool tag = false;        ///< prefix every line with the job's tag and a tab
  bool pass_stdout = true; ///< jobs' stdout to fd 1 (else a failed job's goes to fd 2)
  bool pass_stderr = true; ///< jobs' stderr to fd 2
  int stdout_fd = 1;
  int stderr_fd = 2;
  /// Output held back under -k is kept in memory up to this many bytes in
  /// all; past it, it stays in the job's files (linked, so not cut).
  uint64_t held_in_memory = 4 * 1024 * 1024;
  /// When fd 1 is a pipe or a socket, write it (and fd 2 when it is the same
  /// one) from a thread of its own, so that a slow reader never holds up the
  /// agent's loop.
  bool pump = true;
};

/// Whether the agent must hand over output as it comes for `mode`.
inline bool streams(OutputMode mode) {
  return mode == OutputMode::line_buffer || mode == OutputMode::ungroup;
}

class OutputWriter {
public:
  /// `before_stderr` runs before anything is written to fd 2 (it clears the
  /// live line); `before_stdout` before fd 1, when that is the same terminal.
  OutputWriter(OutputOptions options, std::function<void()> before_write);
  ~OutputWriter();
  OutputWriter(const OutputWriter&) = delete;
  OutputWriter& operator=(const OutputWriter&) = delete;

  void started(const agent::StartedJob& job);
  void output(pid_t pid, bool is_stderr, std::string_view data);
  /// An attempt ended. `header` (a failed job's, "" for none) goes to fd 2
  /// before its output. Only final attempts (succeeded, failed) pass their
  /// output in the grouped modes; one that will run again passes none.
  void finished(const agent::Finished& job, const std::string& header);
  /// Writes what -k still holds, in order, and forgets the rest.
  void flush();
  /// Whether fd 1 was closed by its reader (EPIPE), or a write to fd 1 or 2
  /// failed: nothing more goes there.
  bool closed() const { return m_closed || (m_pump && m_pump->closed()); }
  /// Why a write to fd 1 or 2 failed other than by EPIPE (such as "No space
  /// left on device"), or "": output that did not reach them is only in the logs.
  std::string write_error() const;
  /// So much waits for a slow reader that no new job should start.
  bool backlogged() const { return m_pump && m_pump->backlogged(); }
  /// Waits until what was handed over is written.
  void drain() {
    if (m_pump) {
      m_pump->drain();
    }
  }
  /// Before muster writes a message of its own to fd 2: when fd 2 is the pipe
  /// of the jobs' output, what they wrote goes first.
  void before_message() {
    if (m_pumped[1]) {
      m_pump->drain();
    }
  }

private:
  struct Live { ///< a started attempt, by pid
    std::string job_id;
    std::string tag;
    std::string partial[2]; ///< --line-buffer: the last, unfinished line of each
    bool line_start[2] = {true, true}; ///< --tag: the next byte starts a line
  };
  /// What one finished job passes through.
  /// One string for all four parts keeps a held job small.
  struct Kept {
    enum Part { header, tag, out, err };
    std::string blob;           ///< the parts, one after another
    uint64_t bytes[2] = {0, 0}; ///< the job's stdout and stderr sizes
    uint32_t len[4] = {0, 0, 0, 0};
    bool failed = false;
    bool in_files = false; ///< `out` and `err` are the paths of its files
    bool linked = false;   ///< ... of links to them, removed once written
    bool counted = false;  ///< held in memory, in m_held_bytes
    /// Appends `text` as `part`; parts go in order.
    void add(Part part, std::string_view text) {
      len[part] = static_cast<uint32_t>(text.size());
      blob.append(text);
    }
    std::string_view get(Part part) const {
      size_t at = 0;
      for (int k = 0; k < part; ++k) {
        at += len[k];
      }
      return std::string_view(blob).substr(at, len[part]);
    }
  };
  /// One job's place under -k. Small: 100,000 of them may wait behind a
  /// slow first job.
  struct Held {
    int64_t seq = 0;
    bool done = false;
    std::unique_ptr<Kept> kept; ///< what it passes, once done
  };
  void write(bool to_stderr, std::string_view data);
  void write_tagged(bool to_stderr, const std::string& tag, bool& line_start,
                    std::string_view data);
  void emit(const Kept& k);
  void emit_ready();
  /// What `job` passes; `keep`: it outlives the call (held back under -k).
  std::unique_ptr<Kept> kept(const agent::Finished& job, const std::string& header,
                             std::string tag, bool keep);

  OutputOptions m_opts;
  std::function<void()> m_before_write;
  bool m_closed = false;
  int m_errno = 0; ///< of a failed write other than EPIPE
  std::unordered_map<pid_t, Live> m_live;
  std::deque<Held> m_order;
  uint64_t m_first_index = 0; ///< the index of m_order.front() among all
  std::unordered_map<int64_t, uint64_t> m_index; ///< job seq → index among all
  uint64_t m_held_bytes = 0;
  std::unique_ptr<OutputPump> m_pump; ///< fd 1 is a pipe: its writer thread
  bool m_pumped[2] = {false, false};  ///< fd 1, fd 2 go through m_pump
};

} // namespace muster::ui
