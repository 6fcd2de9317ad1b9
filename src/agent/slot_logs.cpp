#include "agent/slot_logs.hpp"

#include "util/files.hpp"
#include "util/strings.hpp"
#include "util/time.hpp"

#include <charconv>
#include <dirent.h>
#include <memory>
#include <sys/stat.h>

namespace muster::agent {

namespace {

/// N of "slot-N.log"; -1 for any other name.
int64_t slot_of(std::string_view name) {
  constexpr std::string_view k_prefix = "slot-", k_suffix = ".log";
  if (name.size() <= k_prefix.size() + k_suffix.size() || !name.starts_with(k_prefix) ||
      !name.ends_with(k_suffix)) {
    return -1;
  }
  const std::string_view digits =
      name.substr(k_prefix.size(), name.size() - k_prefix.size() - k_suffix.size());
  int64_t n = -1;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  return ec == std::errc() && end == digits.data() + digits.size() ? n : -1;
}

} // namespace

SlotLogShipper::SlotLogShipper(std::string logs_dir, std::string host)
    : m_dir(std::move(logs_dir)), m_host(std::move(host)) {}

std::vector<store::StoredSlotLog> SlotLogShipper::changed() const {
  std::vector<store::StoredSlotLog> out;
  const std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(m_dir.c_str()), ::closedir);
  if (!dir) {
    return out; // no slot wrote a log yet
  }
  while (const dirent* entry = ::readdir(dir.get())) {
    const int64_t slot = slot_of(entry->d_name);
    if (slot < 0) {
      continue;
    }
    const std::string path = m_dir + "/" + entry->d_name;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
      continue;
    }
    const auto it = m_shipped.find(slot);
    if (it != m_shipped.end() && it->second == st.st_size) {
      continue;
    }
    out.push_back({m_host, slot,
                   util::valid_utf8(util::read_tail(path, store::k_stored_output_bytes)),
                   static_cast<int64_t>(st.st_size), util::now_ms()});
  }
  return out;
}

void SlotLogShipper::shipped(const std::vector<store::StoredSlotLog>& logs) {
  for (const auto& log : logs) {
    m_shipped[log.slot] = log.bytes;
  }
}

util::Result<void> SlotLogShipper::ship(store::Store& store, int64_t rid, int64_t mono,
                                        bool now) {
  if (!now && mono < m_next_mono) {
    return {};
  }
  m_next_mono = mono + k_every_ms;
  auto logs = changed();
  if (logs.empty()) {
    return {};
  }
  if (auto r = store.keep_slot_logs(rid, logs); !r) {
    return r;
  }
  shipped(logs);
  return {};
}

} // namespace muster::agent
