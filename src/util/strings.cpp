#include "util/strings.hpp"

#include <algorithm>
#include <cstdio>
#include <vector>

namespace muster::util {

std::string sh_quote(std::string_view value) {
  bool safe = !value.empty();
  for (char c : value) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.' || c == '/' ||
              c == ',' || c == ':' || c == '+' || c == '@' || c == '%' || c == '=';
    if (!ok) {
      safe = false;
      break;
    }
  }
  if (safe) {
    return std::string(value);
  }
  std::string out = "'";
  for (char c : value) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  out += '\'';
  return out;
}

void append_json_string(std::string& out, std::string_view value) {
  out += '"';
  for (unsigned char c : value) {
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\t':
      out += "\\t";
      break;
    case '\b':
      out += "\\b";
      break;
    case '\f':
      out += "\\f";
      break;
    default:
      if (c < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        out += buf;
      } else {
        out += static_cast<char>(c);
      }
    }
  }
  out += '"';
}

void append_csv_field(std::string& out, std::string_view value) {
  if (value.find_first_of(",\"\r\n") == std::string_view::npos) {
    out += value;
    return;
  }
  out += '"';
  for (char c : value) {
    if (c == '"') {
      out += '"';
    }
    out += c;
  }
  out += '"';
}

namespace {

// The length of the valid UTF-8 sequence of two to four bytes at the start
// of `text`, and its code point; 0 when there is none.
size_t utf8_sequence(std::string_view text, uint32_t& cp) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char c = byte(0);
  const size_t len = (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  if (len == 0 || text.size() < len) {
    return 0;
  }
  cp = c & (0x7F >> len);
  for (size_t i = 1; i < len; ++i) {
    if ((byte(i) & 0xC0) != 0x80) {
      return 0;
    }
    cp = (cp << 6) | (byte(i) & 0x3F);
  }
  const uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
  const bool valid =
      cp >= least[len] && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
  return valid ? len : 0;
}

// The length of the valid UTF-8 sequence at the start of `text` that encodes
// a printable code point; 0 when there is none.
size_t printable_sequence(std::string_view text) {
  uint32_t cp = 0;
  const size_t len = utf8_sequence(text, cp);
  const bool c1_control = cp < 0xA0; // U+0080..U+009F steer some terminals
  return len > 0 && !c1_control ? len : 0;
}

} // namespace

std::string printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7F) {
      if (c == '\\') {
        out += '\\';
      }
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    if (c >= 0x80) {
      if (size_t len = printable_sequence(text.substr(i)); len > 0) {
        out.append(text.substr(i, len));
        i += len;
        continue;
      }
    }
    switch (c) {
    case '\n':
      out += "\\n";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\t':
      out += "\\t";
      break;
    default: {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", c);
      out += buf;
    }
    }
    ++i;
  }
  return out;
}

std::string valid_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    uint32_t cp = 0;
    if (c != 0 && c < 0x80) {
      out += static_cast<char>(c);
      ++i;
    } else if (const size_t len = c ? utf8_sequence(text.substr(i), cp) : 0; len > 0) {
      out.append(text.substr(i, len));
      i += len;
    } else {
      out += "\xEF\xBF\xBD"; // U+FFFD
      ++i;
    }
  }
  return out;
}

std::string join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) {
      out += sep;
    }
    out += parts[i];
  }
  return out;
}

std::string shorten_middle(std::string_view text, size_t width) {
  const auto columns = [](std::string_view t) {
    size_t n = 0;
    for (char c : t) {
      n += (static_cast<unsigned char>(c) & 0xC0) != 0x80; // not a continuation byte
    }
    return n;
  };
  const size_t have = columns(text);
  if (have <= width || width < 3) {
    return have <= width ? std::string(text) : truncate_columns(text, width);
  }
  const size_t tail_cols = (width - 1) / 3; // the end often holds the values
  std::string out = truncate_columns(text, width - 1 - tail_cols) + "…";
  size_t at = text.size();
  for (size_t taken = 0; taken < tail_cols && at > 0;) {
    --at;
    if ((static_cast<unsigned char>(text[at]) & 0xC0) != 0x80) {
      ++taken;
    }
  }
  out.append(text.substr(at));
  return out;
}

std::string truncate_columns(std::string_view text, size_t width) {
  std::string out;
  size_t cols = 0;
  for (size_t i = 0; i < text.size();) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    size_t len = c < 0x80         ? 1
                 : (c >> 5) == 6  ? 2
                 : (c >> 4) == 14 ? 3
                 : (c >> 3) == 30 ? 4
                                  : 1;
    if (cols + 1 > width) {
      break;
    }
    out.append(text.substr(i, len));
    i += len;
    ++cols;
  }
  return out;
}

std::string shell_words(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    out += (out.empty() ? "" : " ") + sh_quote(a);
  }
  return out;
}

std::string closest(std::string_view word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_distance = 3;
  for (const auto& c : candidates) {
    // Levenshtein distance, one row at a time.
    std::vector<size_t> row(c.size() + 1);
    for (size_t j = 0; j <= c.size(); ++j) {
      row[j] = j;
    }
    for (size_t i = 1; i <= word.size(); ++i) {
      size_t diagonal = row[0];
      row[0] = i;
      for (size_t j = 1; j <= c.size(); ++j) {
        const size_t above = row[j];
        row[j] = std::min(
            {row[j] + 1, row[j - 1] + 1, diagonal + (word[i - 1] == c[j - 1] ? 0 : 1)});
        diagonal = above;
      }
    }
    size_t d = row[c.size()];
    if (word.size() >= 3 && starts_with(c, word)) {
      d = std::min<size_t>(d, 1);
    }
    if (d < best_distance && d < std::max<size_t>(c.size(), 2)) {
      best_distance = d;
      best = c;
    }
  }
  return best;
}

std::optional<int64_t> parse_digits(std::string_view digits, size_t max_digits) {
  if (digits.empty() || digits.size() > max_digits || max_digits > 18 ||
      digits.find_first_not_of("0123456789") != std::string_view::npos) {
    return std::nullopt;
  }
  int64_t v = 0;
  for (char c : digits) {
    v = v * 10 + (c - '0');
  }
  return v;
}

} // namespace muster::util
