#pragma once
// What the shell and man(1) learn from the command table: completion scripts
// for bash, zsh and fish, and the muster(1) page, all made from the same
// CLI11 table as --help, so that they cannot drift from it.

#include <CLI/CLI.hpp>
#include <string>

namespace muster::cli {

/// The completion script for `shell` ("bash", "zsh" or "fish").
std::string completion_script(const CLI::App& app, const std::string& shell);

/// The muster(1) man page, in roff.
std::string man_page(const CLI::App& app, const std::string& exit_codes);

} // namespace muster::cli
