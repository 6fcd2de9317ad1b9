#pragma once
// Directory trees: a slot's private copy of a template, and its removal.

#include "util/result.hpp"

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace muster::util {

/// Sets this process's umask so that what it creates gets at most `mode`
/// (files without its execute bits), and keeps the umask it replaced for the
/// processes it starts (see job_umask).
void use_store_mode(unsigned mode);
/// The umask for the processes muster starts: the one it was started with,
/// so that a job creates its own files as its user would.
unsigned job_umask();

/// Copies the tree at `from` into `to` (created), keeping symlinks as links.
/// Entries whose name matches one of `exclude` (fnmatch patterns, such as
/// "SingletonLock" or "*.lock") are skipped, directories with all they hold.
Result<void> copy_tree(const std::string& from, const std::string& to,
                             const std::vector<std::string>& exclude);
/// Creates `path` and its parents; an existing directory is fine.
Result<void> make_dirs(const std::string& path);
/// Removes `path` and all it holds; a missing path is fine.
Result<void> remove_tree(const std::string& path);
/// Appends `text` to the file at `path` (created when missing).
void append_file(const std::string& path, const std::string& text);
/// Copies the file at `path` to `to`, flushing `to` first so that the bytes
/// land in order. Returns false when it cannot be opened; `ends_with_newline`
/// (if given) tells whether the last byte written was '\n' (true for none).
bool copy_file_to(const std::string& path, FILE* to, bool* ends_with_newline = nullptr);
/// The whole file, or "" when it cannot be read.
std::string read_file(const std::string& path);
/// The last `max_bytes` of the file (all of it when 0), or "" when it cannot be read.
std::string read_tail(const std::string& path, uint64_t max_bytes);
/// Replaces the file with its last `max_bytes` (a new file renamed over it,
/// so that a reader of the old one reads it whole). Returns whether it cut.
bool keep_tail(const std::string& path, uint64_t max_bytes);
/// Writes `text` as the whole file at `path`.
void write_file(const std::string& path, const std::string& text);
/// Reads the file at `path` in pieces of at most 64 KiB and hands each to
/// `each`; false when it cannot be opened.
bool each_chunk(const std::string& path, const std::function<void(std::string_view)>& each);

} // namespace muster::util
