#include "store/postgres/postgres_store.hpp"

#include "store/postgres/connection.hpp"
#include "store/postgres/schema.hpp"

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
  return sql::SqlStore::make(std::move(db), files_dir);
}

} // namespace muster::store::postgres
