#pragma once
// Limits: how many jobs of one key may run at once, how many may start (or
// succeed) per key in one day window, and how fast the run may start jobs.
// The store enforces them in its claim transaction; this file holds the model
// and the calendar arithmetic, which is pure.

#include "util/result.hpp"
#include "util/timezone.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace muster::core {

/// What a daily cap counts.
enum class CapCount { attempts, successes };
/// Whose jobs a key's limits count: the run's own (the default), or those
/// of every run of the store, so that a cap per account holds across runs.
enum class LimitScope { run, store };

struct Limits {
  int64_t per_key = 0;       ///< jobs of one key running at once; 0 for no limit
  int64_t per_key_daily = 0; ///< starts (or successes) per key per day window; 0 for none
  int64_t day_start_min = 0; ///< the window starts this many minutes after midnight
  std::string timezone;      ///< IANA name ("Europe/Berlin"); "" for the system's
  CapCount count = CapCount::attempts;
  LimitScope scope = LimitScope::run;
  int64_t rate_interval_us = 0; ///< at least this long between starts; 0 for no limit
  std::string rate;             ///< the rate as given ("60/min"), for people
  bool any() const { return per_key > 0 || per_key_daily > 0 || rate_interval_us > 0; }
};

/// One day window: [start_ms, end_ms).
struct DayWindow {
  int64_t start_ms = 0;
  int64_t end_ms = 0;
};

/// The day window that holds `now_ms`: it starts at day_start_min past
/// midnight, local time in `zone`, so a window is 23 or 25 hours long
/// across a daylight-saving change. Arithmetic only: the caller loads the
/// zone (util::TimeZone::load(limits.timezone)) once per run.
DayWindow day_window(int64_t now_ms, int64_t day_start_min, const util::TimeZone& zone);

/// What a key has used, as a backend counts it.
struct KeyUsage {
  int64_t running = 0; ///< its jobs running now
  int64_t counted = 0; ///< attempts (or successes) counted in the day window
};

/// One limit that holds a job of the key back.
struct Hold {
  enum class Kind { key_running, key_daily, lock };
  std::string reason; ///< "key acct1 busy: 2/2 running", for the job's reason
  int64_t until = 0;  ///< when it may lift (epoch ms); 0 when only an event lifts it
  Kind kind = Kind::lock;
  int64_t used = 0;  ///< the key limits: what the key has used ...
  int64_t limit = 0; ///< ... of this many
};

/// What the daily cap sees as used: the counted ones, and with a cap on
/// successes the running ones too (each may yet succeed).
int64_t daily_used(const Limits& limits, const KeyUsage& usage);

/// Every per-key limit that holds a job of `key` back now, in the order
/// they are checked (concurrency, then the daily cap); empty when the job
/// may start. `window` is the day window that holds now, in `zone`.
/// Backends claim only when this is empty, and record the first hold's
/// reason and time.
std::vector<Hold> key_holds(const Limits& limits, const std::string& key,
                            const KeyUsage& usage, const DayWindow& window,
                            const util::TimeZone& zone);

/// "2026-11-24 00:00 Europe/Berlin" (or "… local time" for the zone "").
std::string format_in_zone(int64_t ms, const util::TimeZone& zone);

/// "60/min", "2/s", "100/h", "1000/day" → microseconds between starts.
util::Result<int64_t> parse_rate(std::string_view text);

/// "HH:MM" → minutes after midnight.
util::Result<int64_t> parse_time_of_day(std::string_view text);

std::string_view to_string(CapCount count);
std::optional<CapCount> parse_cap_count(std::string_view text);
std::string_view to_string(LimitScope scope);
std::optional<LimitScope> parse_limit_scope(std::string_view text);

} // namespace muster::core
