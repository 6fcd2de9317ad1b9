// Plain lines (one record each) and `:::` argument groups.

#include "input/formats.hpp"

namespace muster::input {

namespace {

class LinesReader final : public Reader {
public:
  explicit LinesReader(LineSource source) : m_source(std::move(source)) {}

  const std::vector<std::string>& columns() const override { return m_columns; }

  util::Result<bool> next(Record& rec) override {
    std::string_view line;
    auto got = m_source.next(line);
    if (!got || !*got) {
      return got;
    }
    line = strip_cr(line);
    rec.line = m_source.line_number();
    rec.column = 1;
    rec.raw.assign(line);
    rec.names.clear();
    rec.values.resize(1);
    rec.values[0].assign(line);
    return true;
  }

private:
  LineSource m_source;
  std::vector<std::string> m_columns; // always empty
};

class ArgsReader final : public Reader {
public:
  ArgsReader(std::vector<std::vector<std::string>> groups, std::vector<bool> linked)
      : m_groups(std::move(groups)), m_pick(m_groups.size(), 0),
        m_linked(std::move(linked)) {
    m_linked.resize(m_groups.size(), false);
    m_done = m_groups.empty();
    for (const auto& group : m_groups) {
      if (group.empty()) {
        m_done = true; // a product with an empty factor is empty
      }
    }
  }

  const std::vector<std::string>& columns() const override { return m_columns; }

  util::Result<bool> next(Record& rec) override {
    if (m_done) {
      return false;
    }
    rec.line = ++m_count;
    rec.column = 1;
    rec.names.clear();
    rec.values.resize(m_groups.size());
    rec.raw.clear();
    for (size_t g = 0; g < m_groups.size(); ++g) {
      const std::string& value = m_groups[g][m_pick[g]];
      rec.values[g] = value;
      if (g > 0) {
        rec.raw += ' ';
      }
      rec.raw += value;
    }
    advance();
    return true;
  }

private:
  // Steps the odometer; the last group turns fastest.
  // A group linked to the one before it (`:::+`) moves with it.
  void advance() {
    for (size_t g = m_groups.size(); g-- > 0;) {
      size_t first = g; // the first of g's linked run of groups
      while (first > 0 && m_linked[first]) {
        --first;
      }
      const size_t next = m_pick[g] + 1;
      bool fits = true;
      for (size_t l = first; l <= g; ++l) {
        fits = fits && next < m_groups[l].size();
      }
      for (size_t l = first; l <= g; ++l) {
        m_pick[l] = fits ? next : 0;
      }
      if (fits) {
        return;
      }
      g = first;
    }
    m_done = true;
  }

  std::vector<std::vector<std::string>> m_groups;
  std::vector<size_t> m_pick;         // the value taken from each group next
  std::vector<bool> m_linked;         // linked to the group before it
  std::vector<std::string> m_columns; // always empty
  size_t m_count = 0;
  bool m_done = false;
};

} // namespace

std::unique_ptr<Reader> make_lines_reader(LineSource source) {
  return std::make_unique<LinesReader>(std::move(source));
}

std::unique_ptr<Reader> make_args_reader(std::vector<std::vector<std::string>> groups,
                                         std::vector<bool> linked) {
  return std::make_unique<ArgsReader>(std::move(groups), std::move(linked));
}

} // namespace muster::input
