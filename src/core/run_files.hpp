#pragma once
// Every path under a run's directory, STORE/runs/RUN/, in one place: the
// agent writes these files and the CLI reads them, so both must agree.

#include <cstdint>
#include <string>

namespace muster::core {

/// The files of one run under a store's files directory (what
/// `store::files_dir(location)` gives). Pure string building: nothing here
/// touches the disk.
class RunFiles {
public:
  RunFiles(std::string files_dir, const std::string& run_id);

  /// STORE/runs/RUN
  const std::string& dir() const { return m_dir; }
  /// STORE/runs/RUN/out: the jobs' captured output and result files.
  std::string out_dir() const { return m_dir + "/out"; }
  /// out/SEQ plus `ext` (".out", ".err", ".result").
  std::string job_file(int64_t seq, const char* ext) const;
  /// out/SEQ.out
  std::string job_stdout(int64_t seq) const { return job_file(seq, ".out"); }
  /// out/SEQ.err
  std::string job_stderr(int64_t seq) const { return job_file(seq, ".err"); }
  /// out/SEQ.result: the file a job may write ($MUSTER_RESULT).
  std::string job_result(int64_t seq) const { return job_file(seq, ".result"); }
  /// STORE/runs/RUN/logs
  std::string logs_dir() const { return m_dir + "/logs"; }
  /// logs/slot-N.log
  std::string slot_log(int64_t slot) const;
  /// logs/slot-N.WHAT, the stem of a hook's or the sidecar's .out and .err.
  std::string slot_stem(int64_t slot, const std::string& what) const;
  /// STORE/runs/RUN/slots/N: a slot's private directory.
  std::string slot_dir(int64_t slot) const;

private:
  std::string m_dir;
};

} // namespace muster::core
