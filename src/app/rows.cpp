#include "app/rows.hpp"

#include "core/locks.hpp"
#include "store/codec.hpp"
#include "util/strings.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>

namespace muster::app {

namespace {

// Names from an input, joined for a message.
std::string printable_list(const std::vector<std::string>& names) {
  return util::printable(util::join(names, ", "));
}

} // namespace

util::Result<Rows> open_rows(const std::vector<std::string>& inputs,
                             const std::string& format, const std::string& json_path,
                             std::vector<std::vector<std::string>> groups,
                             std::vector<bool> linked) {
  Rows rows;
  if (!groups.empty()) {
    if (!inputs.empty()) {
      return util::Error{"give rows with --input or after :::, not both"};
    }
    if (!json_path.empty()) {
      return util::Error{"--json-path: the rows come after :::, not from a JSON input"};
    }
    rows.field_count = groups.size();
    rows.readers.push_back(input::make_args_reader(std::move(groups), std::move(linked)));
    rows.labels.emplace_back(":::");
    return rows;
  }
  std::vector<std::string> paths =
      inputs.empty() ? std::vector<std::string>{"-"} : inputs;
  std::optional<input::Format> forced;
  if (!format.empty()) {
    forced = input::parse_format(format);
  }
  for (size_t i = 0; i < paths.size(); ++i) {
    const auto format = forced ? *forced : input::format_for_path(paths[i]);
    const std::string label = paths[i] == "-" ? "<stdin>" : util::printable(paths[i]);
    if (i > 0 && format != rows.format) {
      return util::Error{"--input " + label + ": its format (" +
                         std::string(input::format_name(format)) +
                         ") differs from the first input's (" +
                         std::string(input::format_name(rows.format)) + ")"};
    }
    rows.format = format;
    auto opened = input::open_reader(paths[i], format, json_path);
    if (!opened) {
      return opened.error();
    }
    auto reader = std::move(*opened);
    const std::string header_where =
        label + ":" + std::to_string(reader->header_line()) + ":1: ";
    if (i == 0) {
      rows.columns = reader->columns();
      rows.header_where = reader->header_line() > 0 ? header_where : "";
    } else if (reader->columns() != rows.columns) {
      return util::Error{
          header_where + "its header (" + printable_list(reader->columns()) +
          ") differs from the first input's (" + printable_list(rows.columns) + ")"};
    }
    rows.readers.push_back(std::move(reader));
    rows.labels.push_back(label);
  }
  rows.per_row_names =
      rows.format == input::Format::jsonl || rows.format == input::Format::json;
  rows.field_count = rows.columns.empty() ? 1 : rows.columns.size();
  return rows;
}

util::Result<JobTemplates> JobTemplates::parse(const core::RunSettings& s) {
  auto command = core::Template::parse_command(s.command, s.shell);
  if (!command) {
    return command.error();
  }
  JobTemplates t{std::move(*command), std::nullopt, std::nullopt, {},
                 std::nullopt,        std::nullopt, s.id_column};
  for (auto [target, text] : {std::pair{&t.before_job, &s.slot.before_job},
                              std::pair{&t.after_job, &s.slot.after_job}}) {
    if (!text->empty()) {
      auto hook = core::Template::parse_word(*text, core::Shell::yes);
      if (!hook) {
        return hook.error();
      }
      *target = std::move(*hook);
    }
  }
  const std::pair<std::optional<core::Template>*, const std::string*> words[] = {
      {&t.key, &s.key}, {&t.priority, &s.priority}};
  for (const auto& [target, text] : words) {
    if (!text->empty()) {
      auto word = core::Template::parse_word(*text);
      if (!word) {
        return word.error();
      }
      *target = std::move(*word);
    }
  }
  for (const auto& text : s.job_locks) {
    auto word = core::Template::parse_word(text);
    if (!word) {
      return util::Error{"--job-lock: " + word.error().message, word.error().kind};
    }
    t.job_locks.push_back(std::move(*word));
  }
  return t;
}

JobSource::JobSource(const JobTemplates& templates, Rows rows, int64_t first_seq)
    : m_t(templates), m_rows(std::move(rows)), m_first_seq(first_seq), m_seq(first_seq) {}

util::Result<void> JobSource::check_row(const std::vector<std::string>& names,
                                        size_t count, const std::string& where) const {
  const std::pair<const core::Template*, const char*> checks[] = {
      {&m_t.command, "the command"},
      {m_t.key ? &*m_t.key : nullptr, "--key"},
      {m_t.priority ? &*m_t.priority : nullptr, "--priority"},
      {m_t.before_job ? &*m_t.before_job : nullptr, "slots.before_job"},
      {m_t.after_job ? &*m_t.after_job : nullptr, "slots.after_job"}};
  for (const auto& [t, what] : checks) {
    if (t) {
      if (auto r = t->check_fields(names, count, what); !r) {
        return util::Error{where + r.error().message, r.error().kind};
      }
    }
  }
  for (const auto& t : m_t.job_locks) {
    if (auto r = t.check_fields(names, count, "--job-lock"); !r) {
      return util::Error{where + r.error().message, r.error().kind};
    }
  }
  return {};
}

util::Result<void> JobSource::check_fields() const {
  if (m_rows.per_row_names) {
    return {}; // each JSON Lines row is checked as it is read
  }
  if (auto r = check_row(m_rows.columns, m_rows.field_count, m_rows.header_where); !r) {
    return r;
  }
  const std::string& id = m_t.id_column;
  if (id.empty()) {
    return {};
  }
  if (m_rows.columns.empty()) {
    return util::Error{"--id-column " + id +
                       ": the input has no named fields (use "
                       "CSV, TSV or JSON Lines)"};
  }
  if (std::find(m_rows.columns.begin(), m_rows.columns.end(), id) ==
      m_rows.columns.end()) {
    return util::Error{m_rows.header_where + "--id-column " + id +
                       ": no such column; the columns are " +
                       printable_list(m_rows.columns)};
  }
  return {};
}

util::Result<bool> JobSource::next(store::NewJob& job) {
  for (;;) {
    if (m_current >= m_rows.readers.size()) {
      return false;
    }
    auto more = m_rows.readers[m_current]->next(m_rec);
    if (!more) {
      return more.error();
    }
    if (*more) {
      break;
    }
    ++m_current;
  }
  ++m_seq;
  const std::string where = m_rows.labels[m_current] + ":" + std::to_string(m_rec.line) +
                            ":" + std::to_string(m_rec.column);
  const auto& names = m_rows.per_row_names ? m_rec.names : m_rows.columns;
  if (m_rows.per_row_names) {
    if (auto r = check_row(names, m_rec.values.size(), where + ": "); !r) {
      return r.error();
    }
  }
  core::RowView row{&names, &m_rec.values, m_rec.raw};
  if (m_t.id_column.empty()) {
    job.id = std::to_string(m_seq);
  } else {
    bool found = false;
    job.id = std::string(core::field_value(row, m_t.id_column, found));
    if (!found) {
      return util::Error{where + ": no field '" + util::printable(m_t.id_column) +
                         "' for --id-column"};
    }
    if (job.id.empty()) {
      return util::Error{where + ": empty job id in field '" +
                         util::printable(m_t.id_column) + "'"};
    }
  }
  const core::JobContext ctx{job.id, "", 0, 1};
  job.key = m_t.key ? m_t.key->render_word(row, ctx) : "";
  job.locks.clear();
  for (const auto& t : m_t.job_locks) {
    std::string name = t.render_word(row, ctx);
    if (name.empty()) {
      continue; // this row needs no such lock
    }
    if (auto r = core::check_lock_name(name); !r) {
      return util::Error{where + ": --job-lock: " + r.error().message};
    }
    if (std::find(job.locks.begin(), job.locks.end(), name) == job.locks.end()) {
      job.locks.push_back(std::move(name));
    }
  }
  job.priority = 0;
  if (m_t.priority) {
    const std::string text = m_t.priority->render_word(row, ctx);
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || errno != 0) {
      return util::Error{where + ": --priority: expected a whole number, got '" +
                         util::printable(text) + "'"};
    }
    job.priority = v;
  }
  job.fields =
      store::encode_fields(m_rows.per_row_names ? &m_rec.names : nullptr, m_rec.values);
  const bool raw_is_value = m_rec.values.size() == 1 && m_rec.raw == m_rec.values[0];
  job.raw = raw_is_value ? std::string() : m_rec.raw;
  job.where = where;
  return true;
}

} // namespace muster::app
