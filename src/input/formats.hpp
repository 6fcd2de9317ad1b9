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
/// One record per line.
std::unique_ptr<Reader> make_lines_reader(LineSource source);

} // namespace muster::input
