#include "core/run_files.hpp"

namespace muster::core {

RunFiles::RunFiles(std::string files_dir, const std::string& run_id)
    : m_dir(std::move(files_dir) + "/runs/" + run_id) {}

std::string RunFiles::job_file(int64_t seq, const char* ext) const {
  return out_dir() + "/" + std::to_string(seq) + ext;
}

std::string RunFiles::slot_log(int64_t slot) const {
  return slot_stem(slot, "log");
}

std::string RunFiles::slot_stem(int64_t slot, const std::string& what) const {
  return logs_dir() + "/slot-" + std::to_string(slot) + "." + what;
}

std::string RunFiles::slot_dir(int64_t slot) const {
  return m_dir + "/slots/" + std::to_string(slot);
}

} // namespace muster::core
