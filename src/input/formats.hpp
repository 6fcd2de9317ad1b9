#pragma once
// The readers behind open_reader(), one per format. Private to input/.

#include "input/reader.hpp"
#include "input/source.hpp"

#include <memory>

namespace muster::input {

/// Reads and checks the header, then streams RFC 4180 records.
util::Result<std::unique_ptr<Reader>> open_csv_reader(LineSource source);
/// Reads and checks the header, then streams tab-separated rows.
util::Result<std::unique_ptr<Reader>> open_tsv_reader(LineSource source);
/// One JSON object per non-blank line.
std::unique_ptr<Reader> make_jsonl_reader(LineSource source);
/// One record per element of a JSON document's array: the document itself, or
/// the array at `path` (keys joined by dots). Checks the path's syntax here.
util::Result<std::unique_ptr<Reader>> open_json_reader(LineSource source,
                                                       std::string_view path);
/// One record per line.
std::unique_ptr<Reader> make_lines_reader(LineSource source);

} // namespace muster::input
