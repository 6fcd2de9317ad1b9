#include "ui/output_pump.hpp"

#include "util/fd.hpp"
#include "util/files.hpp"

#include <cerrno>
#include <csignal>
#include <pthread.h>
#include <unistd.h>

namespace muster::ui {

void append_tagged(std::string& out, std::string_view tag, bool& line_start,
                   std::string_view data) {
  while (!data.empty()) {
    if (line_start) {
      out += tag;
      out += '\t';
    }
    const size_t nl = data.find('\n');
    const size_t len = nl == std::string_view::npos ? data.size() : nl + 1;
    out.append(data.substr(0, len));
    line_start = nl != std::string_view::npos;
    data.remove_prefix(len);
  }
}

OutputPump::OutputPump(int fd) : m_fd(fd), m_thread([this] { loop(); }) {}

OutputPump::~OutputPump() {
  {
    std::lock_guard lock(m_mutex);
    m_stop = true;
  }
  m_work.notify_all();
  m_thread.join();
}

void OutputPump::bytes(std::string_view data) {
  if (data.empty() || closed()) {
    return;
  }
  std::unique_lock lock(m_mutex);
  // Bounded memory: past the hard limit, wait for the reader like write(2).
  m_space.wait(lock, [&] {
    return closed() || m_pending.load() + data.size() <= k_hard_limit || m_queue.empty();
  });
  m_pending += data.size();
  m_queue.push_back(Piece{std::string(data), false, {}, false});
  lock.unlock();
  m_work.notify_one();
}

void OutputPump::file(std::string path, std::string tag, bool unlink) {
  std::unique_lock lock(m_mutex);
  m_queue.push_back(Piece{std::move(path), true, std::move(tag), unlink});
  lock.unlock();
  m_work.notify_one();
}

void OutputPump::drain() {
  std::unique_lock lock(m_mutex);
  m_space.wait(lock, [&] { return m_queue.empty() && !m_busy; });
}

void OutputPump::write(std::string_view data) {
  if (closed() || data.empty()) {
    return;
  }
  if (!util::write_all(m_fd, data)) {
    if (errno != EPIPE) {
      m_errno = errno;
    }
    m_closed = true;
  }
}

void OutputPump::write_file(const Piece& p) {
  bool line_start = true;
  std::string tagged;
  util::each_chunk(p.data, [&](std::string_view chunk) {
    if (closed()) {
      return;
    }
    if (p.tag.empty()) {
      write(chunk);
      return;
    }
    tagged.clear();
    append_tagged(tagged, p.tag, line_start, chunk);
    write(tagged);
  });
  if (p.unlink) {
    ::unlink(p.data.c_str());
  }
}

void OutputPump::loop() {
  // Signals are the loop's (its signalfd). Blocked here, a SIGPIPE from a
  // gone reader stays pending on this thread and write(2) says EPIPE.
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);
  std::unique_lock lock(m_mutex);
  for (;;) {
    m_work.wait(lock, [&] { return m_stop || !m_queue.empty(); });
    if (m_queue.empty()) {
      return; // stopped, and everything is written
    }
    Piece piece = std::move(m_queue.front());
    m_queue.pop_front();
    m_busy = true;
    lock.unlock();
    if (piece.is_file) {
      write_file(piece);
    } else {
      write(piece.data);
      m_pending -= piece.data.size();
    }
    lock.lock();
    m_busy = false;
    m_space.notify_all();
  }
}

} // namespace muster::ui
