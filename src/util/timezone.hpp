#pragma once
// Time zones read from the system's tz database (TZif files), so that local
// time in a named zone is arithmetic on a loaded value: nothing switches the
// process's TZ, and only load() touches the disk.

#include "util/result.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace muster::util {

/// A civil date in the proleptic Gregorian calendar.
struct CivilDate {
  int64_t year = 1970;
  int month = 1; ///< 1..12
  int day = 1;   ///< 1..31
};

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
int64_t days_from_civil(int64_t year, int month, int day);
/// The civil date `days` after 1970-01-01 (the inverse of days_from_civil).
CivilDate civil_from_days(int64_t days);

/// The rule of a POSIX TZ string ("CET-1CEST,M3.5.0,M10.5.0/3"): a standard
/// offset and, optionally, a daylight-saving offset with the yearly dates it
/// starts and ends. A TZif file's footer holds one for times after its table.
struct PosixRule {
  /// One change date: "Jn", "n" or "Mm.w.d", and the local time it happens.
  struct Change {
    enum class Kind { julian_no_leap, julian_zero, month_week_day };
    Kind kind = Kind::month_week_day;
    int day = 0;           ///< Jn: 1..365; n: 0..365; Mm.w.d: d, 0 (Sunday)..6
    int month = 0;         ///< Mm.w.d only
    int week = 0;          ///< Mm.w.d only: 1..5, 5 for the last
    int64_t time_s = 7200; ///< local time of the change, seconds after midnight
  };
  int64_t std_offset_s = 0; ///< east of UTC (the string's sign is the other way)
  bool has_dst = false;
  int64_t dst_offset_s = 0;
  Change start; ///< when daylight saving starts, in standard time
  Change end;   ///< when it ends, in daylight-saving time

  /// Parses the string; an error names it.
  static Result<PosixRule> parse(const std::string& text);
  /// The offset east of UTC at `utc_s`.
  int64_t utc_offset_s(int64_t utc_s) const;
};

/// A time zone's offsets from UTC over time: the transitions of a TZif file
/// and the footer rule after the last one. Cheap to copy; load it once.
class TimeZone {
public:
  /// UTC, with an empty name.
  TimeZone() = default;

  /// Reads the zone NAME ("Europe/Berlin") from $TZDIR or /usr/share/zoneinfo.
  /// "UTC" is UTC without a file. "" is the system's zone: the zone named by
  /// $TZ (read, never changed), else /etc/localtime, else UTC; its name stays
  /// "". A name with "..", a leading '/' or a character outside
  /// [A-Za-z0-9/_+-] is refused (it comes from the user's config).
  static Result<TimeZone> load(const std::string& name);
  /// Parses the bytes of a TZif file (versions 1 to 4); `name` is for errors.
  static Result<TimeZone> parse(const std::string& name, const std::string& bytes);

  /// The name it was loaded by ("" for the system's zone).
  const std::string& name() const { return m_name; }

  /// Seconds east of UTC at the instant `utc_s` (seconds since the epoch).
  int64_t utc_offset_s(int64_t utc_s) const;

  /// The instant of local civil time `local_s` (seconds since 1970-01-01
  /// 00:00 local). As mktime with tm_isdst = -1: a time that happens twice
  /// (clocks go back) is the earlier instant; a time that does not happen
  /// (clocks go forward) is read with the offset before the gap, so 02:30 on
  /// the spring day in Berlin is 03:30 CEST.
  int64_t to_utc(int64_t local_s) const;

private:
  std::string m_name;
  std::vector<int64_t> m_transitions;  ///< UTC seconds, ascending
  std::vector<uint8_t> m_type_of;      ///< the type in effect from each transition
  std::vector<int64_t> m_type_offsets; ///< utoff of each local time type
  bool m_has_footer = false;
  PosixRule m_footer;
};

} // namespace muster::util
