#pragma once
// muster.toml: everything `muster run` can be told, in a file. Flags given on
// the command line win over the file.

#include "cli/options.hpp"
#include "core/slots.hpp"
#include "util/result.hpp"

#include <set>
#include <string>
#include <vector>

namespace muster::cli {

/// Reads the config named by --config, or ./muster.toml when there is one
/// (nothing when neither). Values go into `o` where the flag was not given
/// (`o.given`), and ports into `o.ports`. Every error names the file, the line
/// and the key, and says what was expected.
util::Result<void> apply_config(RunOptions& o);

/// The `store` of ./muster.toml, or "" when it names none (or cannot be
/// read: `muster run` says why).
std::string configured_store();

} // namespace muster::cli
