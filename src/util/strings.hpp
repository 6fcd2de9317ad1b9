#pragma once
// String helpers with no muster types.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace muster::util {

/// Quotes `value` for POSIX sh so that it is one word, taken literally.
std::string sh_quote(std::string_view value);
/// Appends `value` as a JSON string literal, quotes included.
void append_json_string(std::string& out, std::string_view value);
/// Appends `value` as one CSV field (RFC 4180), quoting only when needed.
void append_csv_field(std::string& out, std::string_view value);
/// `text` safe to print on a terminal: control bytes become `\n`, `\r`, `\t`
/// or `\xNN`, and so do the bytes of C1 controls and of invalid UTF-8; a
/// backslash is doubled. Valid UTF-8 text is kept as it is. Every message that
/// quotes input uses it.
std::string printable(std::string_view text);
/// `text` as valid UTF-8 without NUL, as a text column takes it: each byte of
/// an invalid sequence, and each NUL, becomes U+FFFD.
std::string valid_utf8(std::string_view text);
/// Joins with `sep`.
std::string join(const std::vector<std::string>& parts, std::string_view sep);
/// The argv as a shell would need it typed: each word sh-quoted where needed.
std::string shell_words(const std::vector<std::string>& argv);
/// The number that `digits` spells, when it is 1 to `max_digits` ASCII digits
/// and nothing else; none otherwise (no sign, no space, no overflow).
std::optional<int64_t> parse_digits(std::string_view digits, size_t max_digits);
/// True when `s` starts with `prefix`.
inline bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}
/// Cuts `text` to at most `width` display columns (UTF-8 aware), adding nothing.
std::string truncate_columns(std::string_view text, size_t width);
/// `text` in at most `width` display columns: when longer, its start and its
/// end with "…" between them.
std::string shorten_middle(std::string_view text, size_t width);
/// The candidate closest to `word` (a typo of it: at most 2 edits, or a
/// prefix), for "did you mean"; "" when none is close.
std::string closest(std::string_view word, const std::vector<std::string>& candidates);
/// The value of enum `E` whose word is `text`, where `words` holds the words
/// of its values in their order; none for an unknown word.
template <typename E, typename Words>
std::optional<E> parse_word(const Words& words, std::string_view text) {
  size_t i = 0;
  for (std::string_view word : words) {
    if (word == text) {
      return static_cast<E>(i);
    }
    ++i;
  }
  return std::nullopt;
}

} // namespace muster::util
