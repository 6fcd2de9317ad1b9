#include "util/time.hpp"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>

namespace muster::util {

namespace {

std::atomic<int64_t> g_clock_offset_ms{0};

} // namespace

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count() +
         g_clock_offset_ms.load(std::memory_order_relaxed);
}

void set_clock_offset_ms(int64_t offset) {
  g_clock_offset_ms.store(offset, std::memory_order_relaxed);
}

int64_t clock_offset_ms() {
  return g_clock_offset_ms.load(std::memory_order_relaxed);
}

int64_t monotonic_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

namespace {

// Reads a non-negative decimal number at the start of `text`; advances it.
bool take_number(std::string_view& text, double& out) {
  size_t i = 0;
  bool digits = false;
  bool dot = false;
  while (i < text.size()) {
    char c = text[i];
    if (c >= '0' && c <= '9') {
      digits = true;
    } else if (c == '.' && !dot) {
      dot = true;
    } else {
      break;
    }
    ++i;
  }
  if (!digits) {
    return false;
  }
  out = std::strtod(std::string(text.substr(0, i)).c_str(), nullptr);
  text.remove_prefix(i);
  return true;
}

} // namespace

Result<int64_t> parse_duration_ms(std::string_view text) {
  const std::string original(text);
  auto bad = [&] {
    return Error{"invalid duration '" + original +
                 "': expected a number with a unit, like 500ms, 10s, 2m, 1h30m or 1d"};
  };
  if (text.empty()) {
    return bad();
  }
  double total = 0;
  bool first = true;
  while (!text.empty()) {
    double n = 0;
    if (!take_number(text, n)) {
      return bad();
    }
    double unit = 1000; // a bare number means seconds
    if (text.substr(0, 2) == "ms") {
      unit = 1;
      text.remove_prefix(2);
    } else if (!text.empty() &&
               (text[0] == 's' || text[0] == 'm' || text[0] == 'h' || text[0] == 'd')) {
      unit = text[0] == 's'   ? 1000
             : text[0] == 'm' ? 60'000
             : text[0] == 'h' ? 3'600'000
                              : 86'400'000;
      text.remove_prefix(1);
    } else if (!text.empty() || !first) {
      return bad();
    }
    total += n * unit;
    first = false;
  }
  if (total > 9.0e15) {
    return bad();
  }
  return static_cast<int64_t>(std::llround(total));
}

std::string format_duration(int64_t ms) {
  char buf[64];
  if (ms < 0) {
    return "-";
  }
  if (ms < 10'000) {
    std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(ms) / 1000.0);
  } else if (ms < 60'000) {
    std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(ms / 1000));
  } else if (ms < 3'600'000) {
    std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(ms / 60'000),
                  static_cast<long long>(ms / 1000 % 60));
  } else if (ms < 86'400'000) {
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", static_cast<long long>(ms / 3'600'000),
                  static_cast<long long>(ms / 60'000 % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%lldd%02lldh",
                  static_cast<long long>(ms / 86'400'000),
                  static_cast<long long>(ms / 3'600'000 % 24));
  }
  return buf;
}

std::string format_rate(double per_second) {
  char buf[64];
  if (per_second < 0 || std::isnan(per_second)) {
    return "-";
  }
  if (per_second >= 1000) {
    auto n = static_cast<long long>(std::llround(per_second));
    std::snprintf(buf, sizeof buf, "%lld,%03lld/s", n / 1000, n % 1000);
  } else if (per_second >= 100) {
    std::snprintf(buf, sizeof buf, "%.0f/s", per_second);
  } else if (per_second >= 10) {
    std::snprintf(buf, sizeof buf, "%.1f/s", per_second);
  } else {
    std::snprintf(buf, sizeof buf, "%.2f/s", per_second);
  }
  return buf;
}

std::string format_timestamp(int64_t epoch_ms) {
  if (epoch_ms <= 0) {
    return "";
  }
  time_t secs = static_cast<time_t>(epoch_ms / 1000);
  struct tm tm {};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(epoch_ms % 1000));
  return buf;
}

std::string format_clock(int64_t epoch_ms) {
  const time_t secs = static_cast<time_t>(epoch_ms / 1000);
  const time_t today = ::time(nullptr);
  struct tm tm {};
  struct tm now {};
  localtime_r(&secs, &tm);
  localtime_r(&today, &now);
  char buf[64];
  const bool same_day = tm.tm_year == now.tm_year && tm.tm_yday == now.tm_yday;
  std::strftime(buf, sizeof buf, same_day ? "%H:%M:%S" : "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

std::string format_bytes(uint64_t bytes) {
  char buf[64];
  if (bytes < 1024) {
    std::snprintf(buf, sizeof buf, "%lluB", static_cast<unsigned long long>(bytes));
  } else if (bytes < 1024ULL * 1024) {
    std::snprintf(buf, sizeof buf, "%.1fKiB", static_cast<double>(bytes) / 1024);
  } else if (bytes < 1024ULL * 1024 * 1024) {
    std::snprintf(buf, sizeof buf, "%.1fMiB",
                  static_cast<double>(bytes) / (1024.0 * 1024));
  } else {
    std::snprintf(buf, sizeof buf, "%.1fGiB",
                  static_cast<double>(bytes) / (1024.0 * 1024 * 1024));
  }
  return buf;
}

Result<uint64_t> parse_bytes(std::string_view text) {
  const std::string original(text);
  auto bad = [&] {
    return Error{"invalid size '" + original +
                 "': expected bytes, like 65536, 64K, 1M or 2G"};
  };
  double n = 0;
  if (!take_number(text, n)) {
    return bad();
  }
  double mult = 1;
  if (!text.empty()) {
    switch (text[0]) {
    case 'k':
    case 'K':
      mult = 1024;
      break;
    case 'm':
    case 'M':
      mult = 1024.0 * 1024;
      break;
    case 'g':
    case 'G':
      mult = 1024.0 * 1024 * 1024;
      break;
    case 'b':
    case 'B':
      break;
    default:
      return bad();
    }
    text.remove_prefix(1);
    if (text == "iB" || text == "B" || text == "ib" || text == "b") {
      text = {};
    }
    if (!text.empty()) {
      return bad();
    }
  }
  return static_cast<uint64_t>(n * mult);
}

} // namespace muster::util
