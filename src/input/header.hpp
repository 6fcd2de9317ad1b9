#pragma once
// Checks on the header row of CSV and TSV. Private to input/.

#include "input/source.hpp"

#include <cstddef>
#include <string>
#include <vector>

namespace muster::input {

/// Where a field starts in the input, for messages.
struct FieldPos {
  size_t line = 0;
  size_t column = 0;
};

/// Fails on an empty or a repeated name; `where[i]` is where `names[i]` starts.
util::Result<void> check_header(const LineSource& source,
                                const std::vector<std::string>& names,
                                const std::vector<FieldPos>& where);

/// The message for a row whose field count differs from the header's.
std::string ragged_row_message(size_t found, size_t expected);

} // namespace muster::input
