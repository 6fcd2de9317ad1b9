#include "core/limits.hpp"

#include "util/strings.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <optional>

namespace muster::core {

namespace {

constexpr int64_t k_day_s = 86'400;

int64_t floor_div(int64_t a, int64_t b) {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)) ? 1 : 0);
}

// The moment the window that starts on local day `day` (days since
// 1970-01-01) begins, in ms.
int64_t window_start(const util::TimeZone& zone, int64_t day, int64_t day_start_min) {
  return zone.to_utc(day * k_day_s + day_start_min * 60) * 1000;
}

} // namespace

DayWindow day_window(int64_t now_ms, int64_t day_start_min, const util::TimeZone& zone) {
  const int64_t now_s = now_ms / 1000;
  const int64_t today = floor_div(now_s + zone.utc_offset_s(now_s), k_day_s);
  int64_t start = window_start(zone, today, day_start_min);
  int64_t offset = 0;
  if (start > now_ms) {
    offset = -1; // before today's start: the window began yesterday
    start = window_start(zone, today - 1, day_start_min);
  }
  return DayWindow{start, window_start(zone, today + offset + 1, day_start_min)};
}

int64_t daily_used(const Limits& limits, const KeyUsage& usage) {
  return usage.counted +
         (limits.count == CapCount::successes ? usage.running : int64_t{0});
}

std::vector<Hold> key_holds(const Limits& limits, const std::string& key,
                            const KeyUsage& usage, const DayWindow& window,
                            const util::TimeZone& zone) {
  std::vector<Hold> out;
  if (key.empty()) {
    return out;
  }
  auto of = [](int64_t n, int64_t limit) {
    return std::to_string(n) + "/" + std::to_string(limit);
  };
  const std::string where = limits.scope == LimitScope::store ? " in the store" : "";
  if (limits.per_key > 0 && usage.running >= limits.per_key) {
    out.push_back(Hold{"key " + key + " busy: " + of(usage.running, limits.per_key) +
                           " running" + where,
                       0, Hold::Kind::key_running, usage.running, limits.per_key});
  }
  if (const int64_t used = daily_used(limits, usage);
      limits.per_key_daily > 0 && used >= limits.per_key_daily) {
    out.push_back(Hold{"key " + key + " at daily cap " + of(used, limits.per_key_daily) +
                           where + " until " + format_in_zone(window.end_ms, zone),
                       window.end_ms, Hold::Kind::key_daily, used, limits.per_key_daily});
  }
  return out;
}

std::string format_in_zone(int64_t ms, const util::TimeZone& zone) {
  const int64_t s = ms / 1000;
  const int64_t local = s + zone.utc_offset_s(s);
  const int64_t day = floor_div(local, k_day_s);
  const int64_t of_day = local - day * k_day_s;
  const util::CivilDate date = util::civil_from_days(day);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%lld-%02d-%02d %02d:%02d",
                static_cast<long long>(date.year), date.month, date.day,
                static_cast<int>(of_day / 3600), static_cast<int>(of_day % 3600 / 60));
  return std::string(buf) + " " + (zone.name().empty() ? "local time" : zone.name());
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
    return util::Error{"bad rate '" + std::string(text) +
                       "': the count must be at least 1"};
  }
  return std::max<int64_t>(1, period_us / n);
}

util::Result<int64_t> parse_time_of_day(std::string_view text) {
  const util::Error bad{"bad time of day '" + std::string(text) +
                        "': expected HH:MM, such as \"06:00\""};
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

// The words of CapCount's and LimitScope's values, in their order.
constexpr std::array<std::string_view, 2> k_cap_counts = {"attempts", "successes"};
constexpr std::array<std::string_view, 2> k_limit_scopes = {"run", "store"};

std::string_view to_string(CapCount count) {
  return k_cap_counts[static_cast<size_t>(count)];
}

std::optional<CapCount> parse_cap_count(std::string_view text) {
  return util::parse_word<CapCount>(k_cap_counts, text);
}

std::string_view to_string(LimitScope scope) {
  return k_limit_scopes[static_cast<size_t>(scope)];
}

std::optional<LimitScope> parse_limit_scope(std::string_view text) {
  return util::parse_word<LimitScope>(k_limit_scopes, text);
}

} // namespace muster::core
