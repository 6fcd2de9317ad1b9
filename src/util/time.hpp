#pragma once
// Clocks, duration parsing, and the one place where times, durations, rates and
// sizes are formatted for people.

#include "util/result.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace muster::util {

/// Wall-clock milliseconds since the Unix epoch (what the store records):
/// this host's clock, plus the offset a shared store set so that every
/// host's agents use the store's clock.
int64_t now_ms();
/// Makes now_ms() this host's clock plus `offset` (the store's clock minus
/// this host's, as a PostgreSQL store measures it when it connects).
void set_clock_offset_ms(int64_t offset);
int64_t clock_offset_ms();
/// Monotonic milliseconds (for deadlines and rates).
int64_t monotonic_ms();

/// Parses "500ms", "10s", "2m", "1h30m", "1d" or a bare number of seconds ("1.5").
Result<int64_t> parse_duration_ms(std::string_view text);

/// "0.4s", "12s", "3m05s", "2h03m", "3d04h".
std::string format_duration(int64_t ms);
/// "2,345/s", "12.3/s", "0.50/s"; "-" when unknown (negative).
std::string format_rate(double per_second);
/// ISO 8601 in UTC with milliseconds: "2026-11-23T13:45:00.123Z"; "" for 0.
std::string format_timestamp(int64_t epoch_ms);
/// Local wall-clock time "10:02:11", with the date ("2026-11-23 10:02:11")
/// when it is not today.
std::string format_clock(int64_t epoch_ms);
/// "512B", "1.5KiB", "3.0MiB".
std::string format_bytes(uint64_t bytes);
/// Parses "1048576", "64k", "1M", "1MiB", "2G" into bytes.
Result<uint64_t> parse_bytes(std::string_view text);

} // namespace muster::util
