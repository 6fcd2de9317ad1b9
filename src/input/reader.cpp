#include "input/reader.hpp"

#include "input/formats.hpp"
#include "util/strings.hpp"

namespace muster::input {

namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
}

} // namespace

std::optional<Format> parse_format(std::string_view name) {
  std::string n = lower(name);
  if (n == "csv") {
    return Format::csv;
  }
  if (n == "tsv") {
    return Format::tsv;
  }
  if (n == "jsonl" || n == "ndjson") {
    return Format::jsonl;
  }
  if (n == "json") {
    return Format::json;
  }
  if (n == "lines") {
    return Format::lines;
  }
  return std::nullopt;
}

std::string_view format_name(Format format) {
  switch (format) {
  case Format::csv:
    return "csv";
  case Format::tsv:
    return "tsv";
  case Format::jsonl:
    return "jsonl";
  case Format::json:
    return "json";
  case Format::lines:
    return "lines";
  }
  return "lines";
}

Format format_for_path(std::string_view path) {
  // Only the last component: a dot in a directory name is no extension.
  size_t slash = path.rfind('/');
  std::string_view base = slash == std::string_view::npos ? path : path.substr(slash + 1);
  size_t dot = base.rfind('.');
  if (dot == std::string_view::npos || dot == 0) {
    return Format::lines;
  }
  std::string ext = lower(base.substr(dot + 1));
  if (ext == "csv") {
    return Format::csv;
  }
  if (ext == "tsv" || ext == "tab") {
    return Format::tsv;
  }
  if (ext == "jsonl" || ext == "ndjson") {
    return Format::jsonl;
  }
  if (ext == "json") {
    return Format::json;
  }
  return Format::lines;
}

util::Result<std::unique_ptr<Reader>> open_reader(const std::string& path, Format format,
                                                  std::string_view json_path) {
  if (!json_path.empty() && format != Format::json) {
    return util::Error{"--json-path " + util::printable(json_path) +
                       ": only a JSON input (--format json, or a .json file) has one"};
  }
  auto source = open_source(path);
  if (!source) {
    return source.error();
  }
  switch (format) {
  case Format::csv:
    return open_csv_reader(std::move(*source));
  case Format::tsv:
    return open_tsv_reader(std::move(*source));
  case Format::jsonl:
    return make_jsonl_reader(std::move(*source));
  case Format::json:
    return open_json_reader(std::move(*source), json_path);
  case Format::lines:
    return make_lines_reader(std::move(*source));
  }
  return util::Error{"unknown input format"};
}

} // namespace muster::input
