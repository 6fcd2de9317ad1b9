#pragma once
// A writer thread for an output that a reader drains at its own pace: a pipe
// or a socket. The agent's loop hands it what goes out and never waits on
// write(2), so a slow or stalled reader (`| less`, `| slow-consumer`) cannot
// hold up heartbeats, control requests or signals (DESIGN.md, invariant 10).
// What it holds in memory is bounded: past `soft_limit` bytes the agent
// claims no new job (`backlogged()`), and past `hard_limit` a write waits for
// room, as a blocking write would, so that no byte is ever dropped.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace muster::ui {

/// Appends `data` to `out`, each line prefixed with `tag` and a tab;
/// `line_start` says whether the next byte starts a line, and is kept.
void append_tagged(std::string& out, std::string_view tag, bool& line_start,
                   std::string_view data);

class OutputPump {
public:
  static constexpr uint64_t k_soft_limit = 4 * 1024 * 1024;
  static constexpr uint64_t k_hard_limit = 16 * 1024 * 1024;

  explicit OutputPump(int fd);
  /// Writes what is queued (waiting for the reader, as a blocking write
  /// would), then ends the thread.
  ~OutputPump();
  OutputPump(const OutputPump&) = delete;
  OutputPump& operator=(const OutputPump&) = delete;

  /// Queues bytes.
  void bytes(std::string_view data);
  /// Queues the bytes of the file at `path`, each line prefixed with `tag`
  /// when it is not empty; the file is removed once written when `unlink`.
  void file(std::string path, std::string tag, bool unlink);
  /// Waits until everything queued is written (or the reader is gone).
  void drain();
  /// The reader is gone (EPIPE), or a write failed: nothing more is written.
  bool closed() const { return m_closed.load(std::memory_order_relaxed); }
  /// The errno of a write that failed other than by EPIPE (such as ENOSPC), or 0.
  int write_errno() const { return m_errno.load(); }
  /// More than the soft limit waits in memory.
  bool backlogged() const {
    return m_pending.load(std::memory_order_relaxed) > k_soft_limit;
  }

private:
  struct Piece {
    std::string data; ///< the bytes, or the file's path
    bool is_file = false;
    std::string tag;
    bool unlink = false;
  };
  void loop();
  void write(std::string_view data);
  void write_file(const Piece& p);

  int m_fd;
  std::mutex m_mutex;
  std::condition_variable m_work;  ///< something queued, or the end
  std::condition_variable m_space; ///< the queue shrank
  std::deque<Piece> m_queue;
  bool m_busy = false; ///< the thread holds a piece it is writing
  bool m_stop = false;
  std::atomic<uint64_t> m_pending{0}; ///< bytes queued in memory
  std::atomic<bool> m_closed{false};
  std::atomic<int> m_errno{0};
  std::thread m_thread;
};

} // namespace muster::ui
