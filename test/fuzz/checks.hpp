#pragma once
// What every input error must be, checked by the fuzz targets and by the
// corpus test: located as "PATH:LINE:COLUMN: ", with no raw control byte.

#include <cctype>
#include <string_view>

namespace muster::fuzz {

/// Whether `message` starts with "PATH:LINE:COLUMN: ".
inline bool is_located(std::string_view message, std::string_view path) {
  if (message.substr(0, path.size()) != path) {
    return false;
  }
  size_t i = path.size();
  for (int part = 0; part < 2; ++part) {
    if (i >= message.size() || message[i] != ':') {
      return false;
    }
    const size_t digits = ++i;
    while (i < message.size() && std::isdigit(static_cast<unsigned char>(message[i]))) {
      ++i;
    }
    if (i == digits) {
      return false;
    }
  }
  return message.substr(i, 2) == ": ";
}

/// Whether `message` holds a byte that a terminal would obey.
inline bool has_raw_control(std::string_view message) {
  for (unsigned char c : message) {
    if (c < 0x20 || c == 0x7F) {
      return true;
    }
  }
  return false;
}

} // namespace muster::fuzz
