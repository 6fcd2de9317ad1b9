#pragma once
// Aligned text tables for list, status and jobs.

#include <cstdio>
#include <string>
#include <vector>

namespace muster::ui {

/// Collects rows, then prints them with columns padded to their widest cell.
class Table {
public:
  explicit Table(std::vector<std::string> header) : m_rows{std::move(header)} {}
  void add(std::vector<std::string> row) { m_rows.push_back(std::move(row)); }
  void print(FILE* out) const;

private:
  std::vector<std::vector<std::string>> m_rows;
};

} // namespace muster::ui
