#pragma once
// What the readers of muster.toml share: where a value is (file:line: key),
// typed values with that in every error, and the [slots] reader.

#include "cli/options.hpp"
#include "util/result.hpp"

#include <string>
#include <toml++/toml.h>
#include <vector>

namespace muster::cli::config_read {

/// "FILE:LINE: KEY", which starts every error about a value.
std::string where(const std::string& file, const toml::node& node,
                  const std::string& key);
/// "FILE:LINE: KEY: expected EXPECTED".
util::Error bad(const std::string& file, const toml::node& node, const std::string& key,
                const std::string& expected);
/// A string value.
util::Result<std::string> as_string(const std::string& file, const toml::node& node,
                                    const std::string& key);
/// A whole number of at least `min`.
util::Result<int64_t> as_int(const std::string& file, const toml::node& node,
                             const std::string& key, int64_t min);
/// A string, or an array of strings.
util::Result<std::vector<std::string>>
as_strings(const std::string& file, const toml::node& node, const std::string& key);
/// A duration such as "30s", in milliseconds.
util::Result<int64_t> as_duration(const std::string& file, const toml::node& node,
                                  const std::string& key);
/// "a, b and c".
std::string join_names(const std::vector<std::string>& names);

/// How a key's value is written in the file.
enum class ConfigType {
  whole,    ///< a whole number of at least `min`
  boolean,  ///< true or false
  text,     ///< a string
  texts,    ///< a string or an array of strings
  duration, ///< a string such as "30s"
  table,    ///< a table, read by its own reader: [slots]
  tables,   ///< an array of tables, read by its own reader: [[rules]]
};

/// Reads [slots] (`node`, named `key`) into `o.slot` and `o.ports`.
util::Result<void> read_slots(const std::string& file, const toml::node& node,
                              const std::string& key, RunOptions& o);

} // namespace muster::cli::config_read
