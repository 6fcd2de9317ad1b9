#include "store/postgres/postgres_store.hpp"

#include "store/postgres/connection.hpp"
#include "store/postgres/schema.hpp"
#include "util/files.hpp"

namespace muster::store::postgres {

util::Result<std::unique_ptr<sql::SqlStore>>
open(const std::string& url, const std::string& files_dir, Create create, Access access) {
  auto conn = Connection::open(url);
  if (!conn) {
    return conn.error();
  }
  sql::Db db(std::move(*conn));
  const bool may_create = create == Create::yes && access == Access::read_write;
  if (auto r = migrate(db, may_create); !r) {
    return r.error();
  }
  if (access == Access::read_write) {
    // Captured output and slot directories stay on this host.
    if (auto r = util::make_dirs(files_dir + "/runs"); !r) {
      return util::Error{r.error().message +
                             "; set MUSTER_FILES to a directory this user can write",
                         util::ErrorKind::store_unavailable};
    }
  }
  return sql::SqlStore::make(std::move(db), files_dir);
}

} // namespace muster::store::postgres
