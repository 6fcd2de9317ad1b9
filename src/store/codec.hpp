#pragma once
// How run settings, columns and rows are encoded in the store (JSON text), so
// every store backend encodes them alike.

#include "core/run.hpp"
#include "util/result.hpp"

#include <string>
#include <vector>

namespace muster::store {

std::string encode_settings(const core::RunSettings& settings);
util::Result<core::RunSettings> decode_settings(const std::string& json);

std::string encode_strings(const std::vector<std::string>& values);
util::Result<std::vector<std::string>> decode_strings(const std::string& json);

/// A row's fields: a JSON array of values, or an object when `names` is given.
std::string encode_fields(const std::vector<std::string>* names,
                          const std::vector<std::string>& values);
/// Splits encoded fields into names (empty for an array) and values.
util::Result<void> decode_fields(const std::string& json, std::vector<std::string>& names,
                                 std::vector<std::string>& values);

} // namespace muster::store
