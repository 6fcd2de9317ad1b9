#pragma once
// The one way to open a store from a location: nothing outside src/store/
// names a backend.

#include "store/store.hpp"
#include "util/result.hpp"

#include <memory>
#include <string>

namespace muster::store {

/// Opens the store at `location`:
/// - a directory (the default `.muster`): the embedded SQLite store in it;
/// - `sqlite:DIR`: the same, said explicitly;
/// - `postgres://…` or `postgresql://…`: the PostgreSQL store in that
///   database (a libpq URL; the password comes from PGPASSWORD, ~/.pgpass or
///   a service file, as libpq finds it).
/// A location that does not exist is created when `create` says so, and is
/// a not_found error otherwise. A store opened for writing is checked first:
/// a damaged one is refused (a corrupt error), and so is one whose files
/// this user cannot write.
util::Result<std::unique_ptr<Store>> open(const std::string& location, Create create,
                                          Access access = Access::read_write);

/// Whether `location` names a PostgreSQL store.
bool is_postgres(const std::string& location);
/// What to do about the store at `location` when it is damaged, in the
/// words of `muster check`'s advice.
std::string damaged_advice(const std::string& location);

/// `location` as messages show it: a PostgreSQL URL with its password
/// masked (***), a directory as it is.
std::string shown_location(const std::string& location);

/// Whether nothing is at `location` yet: a store directory that does not
/// exist. A PostgreSQL store is never new here (its database must exist).
bool is_new(const std::string& location);

/// The directory where runs' files (captured output, slot directories) live
/// for a store at `location`: the store's directory, or for PostgreSQL a
/// directory on this host (MUSTER_FILES, else .muster).
std::string files_dir(const std::string& location);

} // namespace muster::store
