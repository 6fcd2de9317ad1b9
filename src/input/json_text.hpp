#pragma once
// What the JSON Lines and JSON readers share: the bounds muster sets on a JSON
// text before nlohmann-json parses it, and turning an object into a record.
// Private to input/.

#include "input/reader.hpp"

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace muster::input {

using Json = nlohmann::ordered_json;

/// The deepest nesting of arrays and objects a JSON input may have. Printing
/// a nested value recurses, so this bounds the stack it takes.
constexpr size_t k_max_json_depth = 512;

/// Where a JSON text breaks a bound, and which.
struct JsonFault {
  size_t offset = 0; ///< 0-based byte offset in the text
  std::string what;
};

/// The first place where `text` nests deeper than k_max_json_depth or holds a
/// `\u0000` escape; none when it does neither. It does not check the syntax,
/// and it never recurses.
std::optional<JsonFault> check_json_bounds(std::string_view text);

/// nlohmann-json's message without its "[json.exception...] parse error at
/// line 1, column N: " prefix, which would repeat the location, and with the
/// bytes it quotes made printable.
std::string parse_detail(std::string_view what);

/// Where in `text` the number is that an out_of_range error (406: a number
/// too big for a double) names in `what`: its offset, or 0 when not found.
size_t overflow_offset(std::string_view text, std::string_view what);

/// "an array", "a string", … for messages.
std::string describe_type(const Json& value);

/// Fills `rec.names` and `rec.values` from a JSON object: strings as they are,
/// null as "", other values as their compact JSON.
void fill_record(Record& rec, const Json& object);

} // namespace muster::input
