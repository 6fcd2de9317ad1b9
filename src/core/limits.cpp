#include "core/limits.hpp"

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <optional>

namespace muster::core {

namespace {

// Makes the C library's local time `timezone` while it lives. muster has one
// thread, so changing TZ for a moment is safe here.
class ZoneScope {
public:
  explicit ZoneScope(const std::string& timezone) : m_active(!timezone.empty()) {
    if (!m_active) {
      return;
    }
    if (const char* old = std::getenv("TZ")) {
      m_old = old;
    }
    ::setenv("TZ", timezone.c_str(), 1);
    ::tzset();
  }
  ~ZoneScope() {
    if (!m_active) {
      return;
    }
    if (m_old) {
      ::setenv("TZ", m_old->c_str(), 1);
    } else {
      ::unsetenv("TZ");
    }
    ::tzset();
  }
  ZoneScope(const ZoneScope&) = delete;
  ZoneScope& operator=(const ZoneScope&) = delete;

private:
  bool m_active;
  std::optional<std::string> m_old;
};

// The moment the window that starts on local date (y, m, d) begins.
int64_t window_start(int year, int mon, int mday, int64_t day_start_min) {
  std::tm t{};
  t.tm_year = year;
  t.tm_mon = mon;
  t.tm_mday = mday;
  t.tm_hour = static_cast<int>(day_start_min / 60);
  t.tm_min = static_cast<int>(day_start_min % 60);
  t.tm_isdst = -1; // let the zone say whether daylight saving applies
  return static_cast<int64_t>(std::mktime(&t)) * 1000;
}

} // namespace

DayWindow day_window(int64_t now_ms, int64_t day_start_min, const std::string& timezone) {
  ZoneScope zone(timezone);
  const std::time_t now_s = static_cast<std::time_t>(now_ms / 1000);
  std::tm local{};
  ::localtime_r(&now_s, &local);
  int64_t start = window_start(local.tm_year, local.tm_mon, local.tm_mday, day_start_min);
  int offset = 0;
  if (start > now_ms) {
    offset = -1; // before today's start: the window began yesterday
    start = window_start(local.tm_year, local.tm_mon, local.tm_mday - 1, day_start_min);
  }
  const int64_t end =
      window_start(local.tm_year, local.tm_mon, local.tm_mday + offset + 1, day_start_min);
  return DayWindow{start, end};
}

int64_t daily_used(const Limits& limits, const KeyUsage& usage) {
  return usage.counted + (limits.count == CapCount::successes ? usage.running : int64_t{0});
}

std::vector<Hold> key_holds(const Limits& limits, const std::string& key, const KeyUsage& usage,
                            const DayWindow& window) {
  std::vector<Hold> out;
  if (key.empty()) {
    return out;
  }
  auto of = [](int64_t n, int64_t limit) { return std::to_string(n) + "/" + std::to_string(limit); };
  if (limits.per_key > 0 && usage.running >= limits.per_key) {
    out.push_back(Hold{"key " + key + " busy: " + of(usage.running, limits.per_key) + " running", 0});
  }
  if (const int64_t used = daily_used(limits, usage);
      limits.per_key_daily > 0 && used >= limits.per_key_daily) {
    out.push_back(Hold{"key " + key + " at daily cap " + of(used, limits.per_key_daily) +
                           " until " + format_in_zone(window.end_ms, limits.timezone),
                       window.end_ms});
  }
  return out;
}

std::string format_in_zone(int64_t ms, const std::string& timezone) {
  ZoneScope zone(timezone);
  const std::time_t s = static_cast<std::time_t>(ms / 1000);
  std::tm local{};
  ::localtime_r(&s, &local);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", &local);
  return std::string(buf) + " " + (timezone.empty() ? "local time" : timezone);
}

util::Result<void> check_timezone(const std::string& timezone) {
  if (timezone.empty()) {
    return {};
  }
  const bool safe = timezone.find("..") == std::string::npos && timezone.front() != '/';
  const char* dir = std::getenv("TZDIR");
  const std::string path = std::string(dir && *dir ? dir : "/usr/share/zoneinfo") + "/" + timezone;
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  if (!safe || !in.read(magic, 4) || std::string_view(magic, 4) != "TZif") {
    return util::Error{"unknown time zone '" + timezone +
                       "': expected a name from the tz database, such as Europe/Berlin (is "
                       "tzdata installed?)"};
  }
  return {};
}

util::Result<int64_t> parse_rate(std::string_view text) {
  const auto slash = text.find('/');
  const util::Error bad{"bad rate '" + std::string(text) +
                        "': expected N/s, N/min, N/h or N/day, such as \"60/min\""};
  if (slash == std::string_view::npos || slash == 0) {
    return bad;
  }
  int64_t n = 0;
  for (char c : text.substr(0, slash)) {
    if (c < '0' || c > '9' || n > 1'000'000'000) {
      return bad;
    }
    n = n * 10 + (c - '0');
  }
  const std::string_view unit = text.substr(slash + 1);
  int64_t period_us = 0;
  if (unit == "s" || unit == "sec" || unit == "second") {
    period_us = 1'000'000;
  } else if (unit == "m" || unit == "min" || unit == "minute") {
    period_us = 60'000'000;
  } else if (unit == "h" || unit == "hour") {
    period_us = 3'600'000'000;
  } else if (unit == "d" || unit == "day") {
    period_us = 86'400'000'000;
  } else {
    return bad;
  }
  if (n <= 0) {
    return util::Error{"bad rate '" + std::string(text) + "': the count must be at least 1"};
  }
  return std::max<int64_t>(1, period_us / n);
}

util::Result<int64_t> parse_time_of_day(std::string_view text) {
  const util::Error bad{"bad time of day '" + std::string(text) + "': expected HH:MM, such as \"06:00\""};
  if (text.size() != 5 || text[2] != ':') {
    return bad;
  }
  for (size_t i : {0, 1, 3, 4}) {
    if (text[i] < '0' || text[i] > '9') {
      return bad;
    }
  }
  const int64_t h = (text[0] - '0') * 10 + (text[1] - '0');
  const int64_t m = (text[3] - '0') * 10 + (text[4] - '0');
  if (h > 23 || m > 59) {
    return bad;
  }
  return h * 60 + m;
}

std::string_view to_string(CapCount count) {
  return count == CapCount::attempts ? "attempts" : "successes";
}

std::optional<CapCount> parse_cap_count(std::string_view text) {
  if (text == "attempts") {
    return CapCount::attempts;
  }
  if (text == "successes") {
    return CapCount::successes;
  }
  return std::nullopt;
}

} // namespace muster::core
