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

struct SlotReport;
/// An agent's slot reports, as stored: a JSON array of objects
/// {"slot", "state", "job", "since", "sidecar"}.
std::string encode_slot_reports(const std::vector<SlotReport>& slots);
/// The reports of `json`; a value that is not such an array gives none, and
/// an unknown word its default, so a report never fails a query.
std::vector<SlotReport> decode_slot_reports(const std::string& json);

} // namespace muster::store
