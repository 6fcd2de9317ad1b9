#include "store/open.hpp"

#include "store/postgres/connection.hpp"
#include "store/postgres/postgres_store.hpp"
#include "store/sqlite/connection.hpp"
#include "store/sqlite/sqlite_store.hpp"

#include <cstdlib>
#include <string_view>
#include <unistd.h>

namespace muster::store {

namespace {

constexpr std::string_view k_sqlite = "sqlite:";

bool starts_with(const std::string& s, std::string_view prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

} // namespace

bool is_postgres(const std::string& location) {
  return starts_with(location, "postgres://") || starts_with(location, "postgresql://");
}

std::string shown_location(const std::string& location) {
  return is_postgres(location) ? postgres::mask_password(location) : location;
}

std::string damaged_advice(const std::string& location) {
  if (is_postgres(location)) {
    return postgres::damaged_advice();
  }
  return sqlite::damaged_advice(files_dir(location) + "/muster.db");
}

bool is_new(const std::string& location) {
  return !is_postgres(location) && ::access(files_dir(location).c_str(), F_OK) != 0;
}

std::string files_dir(const std::string& location) {
  if (is_postgres(location)) {
    const char* env = std::getenv("MUSTER_FILES");
    return env && *env ? env : ".muster";
  }
  return starts_with(location, k_sqlite) ? location.substr(k_sqlite.size()) : location;
}

util::Result<std::unique_ptr<Store>> open(const std::string& location, Create create,
                                          Access access) {
  if (is_postgres(location)) {
    auto s = postgres::open(location, files_dir(location), create, access);
    if (!s) {
      return s.error();
    }
    return std::unique_ptr<Store>(std::move(*s));
  }
  const std::string dir = files_dir(location);
  if (dir.empty()) {
    return util::Error{"--store " + location + ": expected a directory, or sqlite:DIR",
                       util::ErrorKind::bad_input};
  }
  auto s = sqlite::open(dir, create, access);
  if (!s) {
    return s.error();
  }
  return std::unique_ptr<Store>(std::move(*s));
}

} // namespace muster::store
