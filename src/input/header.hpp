#pragma once
// Checks on the header row of CSV and TSV. Private to input/.

#include "input/reader.hpp"
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

/// A reader of rows under a header (CSV, TSV). Subclasses only split records;
/// the header checks and the field-count check live here, once.
class TableReader : public Reader {
public:
  explicit TableReader(LineSource source) : m_source(std::move(source)) {}
  /// Reads and checks the header row; call once, before next().
  util::Result<void> read_header();
  const std::vector<std::string>& columns() const override { return m_columns; }
  size_t header_line() const override { return m_header_line; }
  util::Result<bool> next(Record& rec) override;

protected:
  /// Reads one record into rec.raw, rec.line and the first m_count entries of
  /// rec.values (entries after them are stale); false at the end of the input.
  /// `where`, when given, gets where each field starts.
  virtual util::Result<bool> read_record(Record& rec, std::vector<FieldPos>* where) = 0;
  /// The i-th field of `rec`, reusing its storage from earlier records.
  static std::string& field_slot(Record& rec, size_t i);

  LineSource m_source;
  size_t m_count = 0; ///< fields in the record read last

private:
  std::vector<std::string> m_columns;
  size_t m_header_line = 0;
};

} // namespace muster::input
