#include "ui/output.hpp"

#include "ui/terminal.hpp"
#include "util/fd.hpp"
#include "util/files.hpp"

#include <cerrno>
#include <cstring>
#include <sys/stat.h>
#include <unistd.h>

namespace muster::ui {

using core::JobState;

namespace {

/// Whether `a` and `b` are the same open file (2>&1).
bool same_file(int a, int b) {
  struct stat sa {};
  struct stat sb {};
  return ::fstat(a, &sa) == 0 && ::fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
         sa.st_ino == sb.st_ino;
}

} // namespace

OutputWriter::OutputWriter(OutputOptions options, std::function<void()> before_write)
    : m_opts(options), m_before_write(std::move(before_write)) {
  if (m_opts.mode == OutputMode::ungroup && m_opts.tag) {
    m_opts.mode = OutputMode::line_buffer; // a tag needs whole lines
  }
  if (m_opts.pump && is_pipe(m_opts.stdout_fd)) {
    m_pump = std::make_unique<OutputPump>(m_opts.stdout_fd);
    m_pumped[0] = true;
    // 2>&1 into the same pipe: one queue keeps their order.
    m_pumped[1] = same_file(m_opts.stdout_fd, m_opts.stderr_fd);
  }
}

OutputWriter::~OutputWriter() {
  flush();
}

void OutputWriter::write(bool to_stderr, std::string_view data) {
  if (data.empty() || (!to_stderr && closed())) {
    return;
  }
  if (m_pumped[to_stderr ? 1 : 0]) {
    m_pump->bytes(data); // a pipe: no live line to clear there
    return;
  }
  if (m_before_write) {
    m_before_write();
  }
  const bool ok = util::write_all(to_stderr ? m_opts.stderr_fd : m_opts.stdout_fd, data);
  if (!ok && errno != EPIPE) {
    m_errno = errno; // such as a full disk: stop, and say so
    m_closed = true;
  } else if (!ok && !to_stderr) {
    m_closed = true;
  }
}

std::string OutputWriter::write_error() const {
  const int e = m_errno != 0 ? m_errno : m_pump ? m_pump->write_errno() : 0;
  return e == 0 ? "" : std::strerror(e);
}

void OutputWriter::write_tagged(bool to_stderr, const std::string& tag, bool& line_start,
                                std::string_view data) {
  if (!m_opts.tag) {
    write(to_stderr, data);
    return;
  }
  std::string out;
  out.reserve(data.size() + 64);
  append_tagged(out, tag, line_start, data);
  write(to_stderr, out);
}

void OutputWriter::started(const agent::StartedJob& job) {
  Live& live = m_live[job.pid];
  live = Live{};
  live.job_id = job.job_id;
  live.tag = job.tag.empty() && m_opts.tag ? job.job_id : job.tag;
  if (m_opts.mode == OutputMode::keep_order && !m_index.contains(job.seq)) {
    m_index.emplace(job.seq, m_first_index + m_order.size());
    m_order.push_back(Held{job.seq, false, nullptr});
  }
}

void OutputWriter::output(pid_t pid, bool is_stderr, std::string_view data) {
  const bool to_stderr = is_stderr;
  if ((to_stderr && !m_opts.pass_stderr) || (!to_stderr && !m_opts.pass_stdout)) {
    return;
  }
  auto it = m_live.find(pid);
  if (it == m_live.end()) {
    return;
  }
  Live& live = it->second;
  const int s = is_stderr ? 1 : 0;
  if (m_opts.mode == OutputMode::ungroup) {
    write(to_stderr, data);
    return;
  }
  // --line-buffer: whole lines only; the rest waits for its newline.
  std::string& partial = live.partial[s];
  const size_t nl = data.rfind('\n');
  if (nl == std::string_view::npos) {
    partial.append(data);
    return;
  }
  if (partial.empty()) {
    write_tagged(to_stderr, live.tag, live.line_start[s], data.substr(0, nl + 1));
  } else {
    partial.append(data.substr(0, nl + 1));
    write_tagged(to_stderr, live.tag, live.line_start[s], partial);
    partial.clear();
  }
  partial.append(data.substr(nl + 1));
}

std::unique_ptr<OutputWriter::Kept> OutputWriter::kept(const agent::Finished& job,
                                                       const std::string& header,
                                                       std::string tag, bool keep) {
  auto k = std::make_unique<Kept>();
  k->failed = job.state == JobState::failed;
  k->bytes[0] = job.stdout_bytes;
  k->bytes[1] = job.stderr_bytes;
  k->add(Kept::header, header);
  k->add(Kept::tag, tag);
  const bool in_memory = job.stdout_data.size() == job.stdout_bytes &&
                         job.stderr_data.size() == job.stderr_bytes &&
                         (!keep || m_held_bytes + job.stdout_bytes + job.stderr_bytes <=
                                       m_opts.held_in_memory);
  if (in_memory) {
    k->add(Kept::out, job.stdout_data);
    k->add(Kept::err, job.stderr_data);
    if (keep) {
      m_held_bytes += job.stdout_bytes + job.stderr_bytes;
      k->counted = true;
    }
    return k;
  }
  k->in_files = true;
  std::string paths[2] = {job.stdout_path, job.stderr_path};
  if (keep) {
    // The agent cuts the files to their tails after this call: a link keeps
    // the whole of them until their turn.
    k->linked = true;
    for (std::string& path : paths) {
      if (path.empty()) {
        continue;
      }
      const std::string link = path + ".held";
      ::unlink(link.c_str());
      if (::link(path.c_str(), link.c_str()) != 0) {
        util::write_file(link, util::read_file(path));
      }
      path = link;
    }
  }
  k->add(Kept::out, paths[0]);
  k->add(Kept::err, paths[1]);
  return k;
}

void OutputWriter::emit(const Kept& k) {
  bool handed[2] = {false, false}; ///< the part's file went to the pump
  write(true, k.get(Kept::header));
  const std::string tag(k.get(Kept::tag));
  for (int s : {0, 1}) {
    const std::string_view what = k.get(s == 0 ? Kept::out : Kept::err);
    if (k.bytes[s] == 0) {
      continue;
    }
    // stdout to stdout; a failed job's goes to stderr when stdout is not passed.
    bool to_stderr = s == 1;
    if (s == 0 && !m_opts.pass_stdout) {
      if (!k.failed) {
        continue;
      }
      to_stderr = true;
    }
    if (s == 1 && !m_opts.pass_stderr) {
      continue;
    }
    bool line_start = true;
    if (!k.in_files) {
      write_tagged(to_stderr, tag, line_start, what);
    } else if (m_pumped[to_stderr ? 1 : 0]) {
      // The pump reads the file; a link is its own to remove once written.
      m_pump->file(std::string(what), m_opts.tag ? tag : std::string(), k.linked);
      handed[s] = true;
    } else {
      util::each_chunk(std::string(what), [&](std::string_view chunk) {
        write_tagged(to_stderr, tag, line_start, chunk);
      });
    }
  }
  if (k.linked) {
    for (int s : {0, 1}) {
      const std::string_view path = k.get(s == 0 ? Kept::out : Kept::err);
      if (!handed[s] && !path.empty()) {
        ::unlink(std::string(path).c_str());
      }
    }
  }
}

void OutputWriter::finished(const agent::Finished& job, const std::string& header) {
  std::string tag = m_opts.tag ? job.job_id : std::string();
  Live live;
  if (auto it = m_live.find(job.pid); it != m_live.end()) {
    live = std::move(it->second);
    m_live.erase(it);
    tag = live.tag;
  }
  // An attempt's output shows once it is the job's last here: it ended, or
  // muster stopped it for good (a --deadline, a stop, a cancel). An attempt
  // that is retried, or stopped by a pause or a halt, runs again: its output
  // would show twice.
  const bool final_state = job.state == JobState::succeeded ||
                           job.state == JobState::failed ||
                           job.outcome.type == core::ErrorType::interrupted ||
                           job.outcome.type == core::ErrorType::cancelled;
  if (streams(m_opts.mode)) {
    // What it wrote is out already, but for an unfinished last line.
    for (int s : {0, 1}) {
      write_tagged(s == 1, tag, live.line_start[s], live.partial[s]);
    }
    write(true, header);
    return;
  }
  if (m_opts.mode == OutputMode::group) {
    if (final_state) {
      // A file the pump will read later must outlive the cut to its tail.
      const auto k = kept(job, header, std::move(tag), m_pump != nullptr);
      emit(*k);
      if (k->counted) {
        m_held_bytes -= k->bytes[0] + k->bytes[1];
      }
    } else {
      write(true, header);
    }
    return;
  }
  // -k: a job's place is where it first started.
  auto at = m_index.find(job.seq);
  if (at == m_index.end()) {
    // It never started (it could not be spawned): its place is now.
    at = m_index.emplace(job.seq, m_first_index + m_order.size()).first;
    m_order.push_back(Held{job.seq, false, nullptr});
  }
  if (job.state == JobState::retrying) {
    write(true, header);
    return; // its place waits for its last attempt
  }
  Held& h = m_order[at->second - m_first_index];
  h.done = true;
  if (final_state) {
    const bool first = at->second == m_first_index;
    h.kept = kept(job, header, std::move(tag), !first);
  }
  emit_ready();
}

void OutputWriter::emit_ready() {
  while (!m_order.empty() && m_order.front().done) {
    Held& h = m_order.front();
    if (h.kept) {
      emit(*h.kept);
      if (h.kept->counted) {
        m_held_bytes -= h.kept->bytes[0] + h.kept->bytes[1];
      }
    }
    m_index.erase(h.seq);
    m_order.pop_front();
    ++m_first_index;
  }
}

void OutputWriter::flush() {
  // Jobs that will not end here (a drain left them to a later resume) give up
  // their places; what finished after them goes out in order.
  for (Held& h : m_order) {
    h.done = true;
  }
  emit_ready();
  m_held_bytes = 0;
}

} // namespace muster::ui
