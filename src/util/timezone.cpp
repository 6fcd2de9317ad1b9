#include "util/timezone.hpp"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string_view>

namespace muster::util {

namespace {

constexpr int64_t k_day_s = 86'400;
constexpr const char* k_default_dir = "/usr/share/zoneinfo";

int64_t floor_div(int64_t a, int64_t b) {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)) ? 1 : 0);
}

bool is_leap(int64_t year) {
  return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
}

Error unknown_zone(const std::string& name) {
  return Error{
      "unknown time zone '" + name +
      "': expected a name from the tz database, such as Europe/Berlin (is tzdata "
      "installed?)"};
}

Error damaged_zone(const std::string& name, const std::string& why) {
  return Error{"time zone '" + name + "': its tz database file is damaged (" + why + ")"};
}

bool safe_name(const std::string& name) {
  if (name.empty() || name.front() == '/' || name.find("..") != std::string::npos) {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '/' || c == '_' || c == '+' || c == '-';
  });
}

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return std::nullopt;
  }
  std::string bytes((std::istreambuf_iterator<char>(in)),
                    std::istreambuf_iterator<char>());
  if (in.bad()) {
    return std::nullopt;
  }
  return bytes;
}

std::string zone_dir() {
  const char* dir = std::getenv("TZDIR");
  return dir && *dir ? dir : k_default_dir;
}

// Reads big-endian integers from a TZif file, failing once past its end.
class Reader {
public:
  explicit Reader(std::string_view bytes) : m_bytes(bytes) {}
  bool ok() const { return m_ok; }
  size_t pos() const { return m_pos; }
  std::string_view rest() const {
    return m_ok ? m_bytes.substr(m_pos) : std::string_view{};
  }
  bool skip(size_t n) {
    if (!m_ok || m_bytes.size() - m_pos < n) {
      m_ok = false;
      return false;
    }
    m_pos += n;
    return true;
  }
  int64_t integer(size_t size) {
    const size_t at = m_pos;
    if (!skip(size)) {
      return 0;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < size; ++i) {
      v = (v << 8) | static_cast<unsigned char>(m_bytes[at + i]);
    }
    if (size == 4) {
      return static_cast<int32_t>(static_cast<uint32_t>(v));
    }
    return static_cast<int64_t>(v);
  }

private:
  std::string_view m_bytes;
  size_t m_pos = 0;
  bool m_ok = true;
};

struct Header {
  char version = 0;
  int64_t isutcnt = 0, isstdcnt = 0, leapcnt = 0, timecnt = 0, typecnt = 0, charcnt = 0;
};

std::optional<Header> read_header(Reader& in) {
  const std::string_view magic = in.rest().substr(0, 4);
  if (magic != "TZif" || !in.skip(4)) {
    return std::nullopt;
  }
  Header h;
  h.version = in.rest().empty() ? 0 : in.rest()[0];
  in.skip(16); // the version byte and 15 reserved ones
  h.isutcnt = in.integer(4);
  h.isstdcnt = in.integer(4);
  h.leapcnt = in.integer(4);
  h.timecnt = in.integer(4);
  h.typecnt = in.integer(4);
  h.charcnt = in.integer(4);
  if (!in.ok() || h.isutcnt < 0 || h.isstdcnt < 0 || h.leapcnt < 0 || h.timecnt < 0 ||
      h.typecnt < 1 || h.charcnt < 0) {
    return std::nullopt;
  }
  return h;
}

// Size of a data block whose times take `time_size` bytes.
int64_t data_size(const Header& h, int64_t time_size) {
  return h.timecnt * (time_size + 1) + h.typecnt * 6 + h.charcnt +
         h.leapcnt * (time_size + 4) + h.isstdcnt + h.isutcnt;
}

// --- POSIX TZ strings -------------------------------------------------------

class PosixParser {
public:
  explicit PosixParser(std::string_view s) : m_s(s) {}
  bool done() const { return m_i == m_s.size(); }
  bool eat(char c) {
    if (m_i < m_s.size() && m_s[m_i] == c) {
      ++m_i;
      return true;
    }
    return false;
  }
  bool peek_digit_or_sign() const {
    if (m_i >= m_s.size()) {
      return false;
    }
    const char c = m_s[m_i];
    return c == '+' || c == '-' || (c >= '0' && c <= '9');
  }
  // "CET" or "<+0530>".
  bool abbreviation() {
    if (eat('<')) {
      while (m_i < m_s.size() && m_s[m_i] != '>') {
        ++m_i;
      }
      return eat('>');
    }
    const size_t from = m_i;
    while (m_i < m_s.size() && ((m_s[m_i] >= 'A' && m_s[m_i] <= 'Z') ||
                                (m_s[m_i] >= 'a' && m_s[m_i] <= 'z'))) {
      ++m_i;
    }
    return m_i - from >= 3;
  }
  std::optional<int64_t> number(int64_t max) {
    const size_t from = m_i;
    int64_t v = 0;
    while (m_i < m_s.size() && m_s[m_i] >= '0' && m_s[m_i] <= '9' && v <= max) {
      v = v * 10 + (m_s[m_i++] - '0');
    }
    if (m_i == from || v > max) {
      return std::nullopt;
    }
    return v;
  }
  // [+-]hh[:mm[:ss]], in seconds.
  std::optional<int64_t> hms(int64_t max_hours) {
    const int64_t sign = eat('-') ? -1 : (eat('+'), 1);
    auto h = number(max_hours);
    if (!h) {
      return std::nullopt;
    }
    int64_t total = *h * 3600;
    for (int64_t unit : {60, 1}) {
      if (!eat(':')) {
        break;
      }
      auto part = number(59);
      if (!part) {
        return std::nullopt;
      }
      total += *part * unit;
    }
    return sign * total;
  }
  std::optional<PosixRule::Change> change() {
    using Kind = PosixRule::Change::Kind;
    PosixRule::Change c;
    if (eat('M')) {
      auto m = number(12);
      auto w = eat('.') ? number(5) : std::nullopt;
      auto d = eat('.') ? number(6) : std::nullopt;
      if (!m || !w || !d || *m < 1 || *w < 1) {
        return std::nullopt;
      }
      c.kind = Kind::month_week_day;
      c.month = static_cast<int>(*m);
      c.week = static_cast<int>(*w);
      c.day = static_cast<int>(*d);
    } else {
      const bool julian = eat('J');
      auto n = number(365);
      if (!n || (julian && *n < 1)) {
        return std::nullopt;
      }
      c.kind = julian ? Kind::julian_no_leap : Kind::julian_zero;
      c.day = static_cast<int>(*n);
    }
    if (eat('/')) {
      auto t = hms(167); // RFC 8536 extends the hours to -167..167
      if (!t) {
        return std::nullopt;
      }
      c.time_s = *t;
    }
    return c;
  }

private:
  std::string_view m_s;
  size_t m_i = 0;
};

// Local seconds (since 1970-01-01 local) when `c` happens in `year`.
int64_t change_local_s(const PosixRule::Change& c, int64_t year) {
  using Kind = PosixRule::Change::Kind;
  int64_t day = 0;
  switch (c.kind) {
  case Kind::julian_no_leap:
    // Day 60 is always March 1st: February 29th is never counted.
    day =
        days_from_civil(year, 1, 1) + c.day - 1 + (is_leap(year) && c.day >= 60 ? 1 : 0);
    break;
  case Kind::julian_zero:
    day = days_from_civil(year, 1, 1) + c.day;
    break;
  case Kind::month_week_day: {
    const int64_t first = days_from_civil(year, c.month, 1);
    const int64_t weekday_first = ((first + 4) % 7 + 7) % 7; // 1970-01-01 was a Thursday
    int64_t d = first + (c.day - weekday_first + 7) % 7 + 7 * (c.week - 1);
    const int next_month = c.month == 12 ? 1 : c.month + 1;
    const int64_t month_end =
        days_from_civil(c.month == 12 ? year + 1 : year, next_month, 1);
    while (d >= month_end) {
      d -= 7; // week 5 means the last such weekday of the month
    }
    day = d;
    break;
  }
  }
  return day * k_day_s + c.time_s;
}

} // namespace

// Howard Hinnant, "chrono-Compatible Low-Level Date Algorithms" (public domain).
int64_t days_from_civil(int64_t year, int month, int day) {
  const int64_t y = month <= 2 ? year - 1 : year;
  const int64_t era = floor_div(y, 400);
  const int64_t yoe = y - era * 400; // [0, 399]
  const int64_t doy =
      (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1; // [0, 365]
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;         // [0, 146096]
  return era * 146097 + doe - 719468;
}

CivilDate civil_from_days(int64_t days) {
  const int64_t z = days + 719468;
  const int64_t era = floor_div(z, 146097);
  const int64_t doe = z - era * 146097; // [0, 146096]
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; // [0, 399]
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               // [0, 365]
  const int64_t mp = (5 * doy + 2) / 153;                                    // [0, 11]
  const int day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  const int month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  return CivilDate{yoe + era * 400 + (month <= 2 ? 1 : 0), month, day};
}

Result<PosixRule> PosixRule::parse(const std::string& text) {
  const Error bad{"bad POSIX time zone rule '" + text + "'"};
  PosixParser p(text);
  PosixRule r;
  if (!p.abbreviation()) {
    return bad;
  }
  auto std_off = p.hms(24);
  if (!std_off) {
    return bad;
  }
  r.std_offset_s = -*std_off;
  if (p.done()) {
    return r;
  }
  if (!p.abbreviation()) {
    return bad;
  }
  r.has_dst = true;
  r.dst_offset_s = r.std_offset_s + 3600;
  if (p.peek_digit_or_sign()) {
    auto dst_off = p.hms(24);
    if (!dst_off) {
      return bad;
    }
    r.dst_offset_s = -*dst_off;
  }
  if (p.done()) {
    // No dates: POSIX leaves them to the implementation; this is the US rule.
    r.start = Change{Change::Kind::month_week_day, 0, 3, 2, 7200};
    r.end = Change{Change::Kind::month_week_day, 0, 11, 1, 7200};
    return r;
  }
  std::optional<Change> start = p.eat(',') ? p.change() : std::nullopt;
  std::optional<Change> end = start && p.eat(',') ? p.change() : std::nullopt;
  if (!end || !p.done()) {
    return bad;
  }
  r.start = *start;
  r.end = *end;
  return r;
}

int64_t PosixRule::utc_offset_s(int64_t utc_s) const {
  if (!has_dst) {
    return std_offset_s;
  }
  const int64_t year = civil_from_days(floor_div(utc_s + std_offset_s, k_day_s)).year;
  // The start is given in standard time, the end in daylight-saving time.
  const int64_t starts = change_local_s(start, year) - std_offset_s;
  const int64_t ends = change_local_s(end, year) - dst_offset_s;
  const bool dst = starts < ends
                       ? (utc_s >= starts && utc_s < ends)
                       : !(utc_s >= ends && utc_s < starts); // southern hemisphere
  return dst ? dst_offset_s : std_offset_s;
}

Result<TimeZone> TimeZone::load(const std::string& name) {
  if (name == "UTC") {
    TimeZone utc;
    utc.m_name = name;
    return utc;
  }
  if (name.empty()) {
    std::string from = "/etc/localtime";
    if (const char* tz = std::getenv("TZ"); tz && *tz) {
      const std::string spec(tz[0] == ':' ? tz + 1 : tz);
      if (safe_name(spec)) {
        from = zone_dir() + "/" + spec;
      } else if (auto rule = PosixRule::parse(spec); rule) {
        TimeZone z;
        z.m_has_footer = true;
        z.m_footer = *rule;
        return z;
      }
    }
    if (auto bytes = read_file(from)) {
      if (auto z = parse("", *bytes); z) {
        return z;
      }
    }
    return TimeZone{}; // as the C library does: no usable zone is UTC
  }
  if (!safe_name(name)) {
    return unknown_zone(name);
  }
  auto bytes = read_file(zone_dir() + "/" + name);
  if (!bytes) {
    return unknown_zone(name);
  }
  return parse(name, *bytes);
}

Result<TimeZone> TimeZone::parse(const std::string& name, const std::string& bytes) {
  Reader in(bytes);
  auto header = read_header(in);
  if (!header) {
    return unknown_zone(name); // a directory entry that is no zone, such as "zone.tab"
  }
  int64_t time_size = 4;
  if (header->version >= '2') {
    // Skip the 32-bit block: the 64-bit one after it covers every time.
    if (!in.skip(static_cast<size_t>(data_size(*header, 4))) ||
        !(header = read_header(in))) {
      return damaged_zone(name, "no 64-bit block");
    }
    time_size = 8;
  }
  const Header& h = *header;
  if (static_cast<int64_t>(in.rest().size()) < data_size(h, time_size)) {
    return damaged_zone(name, "truncated");
  }
  TimeZone z;
  z.m_name = name;
  for (int64_t i = 0; i < h.timecnt; ++i) {
    z.m_transitions.push_back(in.integer(static_cast<size_t>(time_size)));
  }
  for (int64_t i = 0; i < h.timecnt; ++i) {
    z.m_type_of.push_back(static_cast<uint8_t>(in.integer(1)));
    if (z.m_type_of.back() >= h.typecnt) {
      return damaged_zone(name, "a transition names a missing type");
    }
  }
  for (int64_t i = 0; i < h.typecnt; ++i) {
    z.m_type_offsets.push_back(in.integer(4)); // utoff
    in.skip(2);                                // isdst, desigidx: the offset says it all
  }
  in.skip(static_cast<size_t>(h.charcnt + h.leapcnt * (time_size + 4) + h.isstdcnt +
                              h.isutcnt));
  if (!in.ok() || !std::is_sorted(z.m_transitions.begin(), z.m_transitions.end())) {
    return damaged_zone(name, "bad transition table");
  }
  if (time_size == 8) {
    const std::string_view rest = in.rest();
    const size_t close = rest.size() > 1 ? rest.find('\n', 1) : std::string_view::npos;
    if (rest.empty() || rest[0] != '\n' || close == std::string_view::npos) {
      return damaged_zone(name, "no footer");
    }
    const std::string footer(rest.substr(1, close - 1));
    if (!footer.empty()) {
      auto rule = PosixRule::parse(footer);
      if (!rule) {
        return damaged_zone(name, rule.error().message);
      }
      z.m_has_footer = true;
      z.m_footer = *rule;
    }
  }
  return z;
}

int64_t TimeZone::utc_offset_s(int64_t utc_s) const {
  if (m_transitions.empty() || utc_s < m_transitions.front()) {
    if (m_transitions.empty() && m_has_footer) {
      return m_footer.utc_offset_s(utc_s);
    }
    return m_type_offsets.empty() ? 0 : m_type_offsets.front();
  }
  if (utc_s >= m_transitions.back() && m_has_footer) {
    return m_footer.utc_offset_s(utc_s);
  }
  const auto after = std::upper_bound(m_transitions.begin(), m_transitions.end(), utc_s);
  const auto i = static_cast<size_t>(after - m_transitions.begin()) - 1;
  return m_type_offsets[m_type_of[i]];
}

int64_t TimeZone::to_utc(int64_t local_s) const {
  // Zones change offset at most once in any two days, so the offsets a day
  // either side are the only ones this local time can have.
  const int64_t before = utc_offset_s(local_s - k_day_s);
  const int64_t after = utc_offset_s(local_s + k_day_s);
  std::optional<int64_t> best;
  for (int64_t off : {before, after}) {
    const int64_t utc = local_s - off;
    if (utc_offset_s(utc) == off && (!best || utc < *best)) {
      best = utc;
    }
  }
  return best ? *best : local_s - before; // in a gap: the offset before it
}

} // namespace muster::util
