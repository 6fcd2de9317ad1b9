#pragma once
// Readers turn an input (CSV, TSV, JSON Lines, plain lines, `:::` arguments)
// into records, one per job. They stream: memory stays flat whatever the size.

#include "util/result.hpp"

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace muster::input {

enum class Format { csv, tsv, jsonl, json, lines };

/// One input row.
struct Record {
  /// Field names of this record (JSON Lines and JSON only: its keys, in
  /// document order).
  /// Empty when the reader's columns() name the fields.
  std::vector<std::string> names;
  /// Field values, in order. Non-string JSON values are their compact JSON text;
  /// null is "".
  std::vector<std::string> values;
  /// The whole record as written, which `{}` stands for: the line, the CSV
  /// record's text without its line ending, the JSON object's text.
  std::string raw;
  /// 1-based line and column (in bytes) where the record starts.
  size_t line = 0;
  size_t column = 1;
};

/// Streams records from one input.
class Reader {
public:
  virtual ~Reader() = default;
  /// Header names (CSV, TSV); empty for the other formats.
  virtual const std::vector<std::string>& columns() const = 0;
  /// 1-based line of the header row (CSV, TSV); 0 for the other formats.
  virtual size_t header_line() const { return 0; }
  /// Reads the next record into `rec`: true for a record, false at the end.
  /// Malformed input is an Error whose message starts with "FILE:LINE:COLUMN: ".
  virtual util::Result<bool> next(Record& rec) = 0;
};

/// "csv", "tsv", "jsonl" (also "ndjson"), "json", "lines".
std::optional<Format> parse_format(std::string_view name);
std::string_view format_name(Format format);
/// The format an input's file name implies: .csv, .tsv/.tab, .jsonl/.ndjson
/// and .json; anything else (and "-") is lines.
Format format_for_path(std::string_view path);

/// Opens `path` ("-" is standard input) as `format`. The header of CSV and TSV
/// is read (and checked) here, so columns() is known before the first next().
/// For JSON, `json_path` names the array of rows by its keys, joined by dots
/// ("data.jobs"); "" is the document itself.
util::Result<std::unique_ptr<Reader>> open_reader(const std::string& path, Format format,
                                                  std::string_view json_path = "");

/// Records from `:::` argument groups: the cartesian product of the groups, as
/// GNU parallel does (the last group varies fastest). Each record has one value
/// per group; raw is the values joined by a space. A group whose `linked`
/// entry is true (`:::+`) is taken side by side with the one before it, value
/// for value, to the end of the shorter.
std::unique_ptr<Reader> make_args_reader(std::vector<std::vector<std::string>> groups,
                                         std::vector<bool> linked = {});

} // namespace muster::input
