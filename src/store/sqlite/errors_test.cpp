// What a failing SQLite store reports: the error's kind (which decides the
// exit code) and a message that says what happened and what to do.

#include "store/codec.hpp"
#include "store/open.hpp"
#include "store/sqlite/connection.hpp"
#include "util/test_support.hpp"

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <iterator>
#include <optional>
#include <sqlite3.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

namespace muster::store::sqlite {
namespace {

std::string describe(const util::Error& e) {
  return std::string(util::to_string(e.kind)) + ": " + e.message;
}

/// Adds `n` jobs of `size` bytes each to the run; the first error, if any.
std::optional<util::Error> add_big_jobs(Store& store, int64_t rid, int n, size_t size,
                                        int& next_id) {
  int i = 0;
  auto r = store.add_jobs(
      rid,
      [&](NewJob& job) -> util::Result<bool> {
        if (i++ == n) {
          return false;
        }
        job.id = "big" + std::to_string(next_id++);
        job.fields = encode_strings({std::string(size, 'x')});
        return true;
      },
      [](int64_t n) {
        Event e;
        e.action = "add";
        e.detail = std::to_string(n) + " job(s)";
        return e;
      });
  if (r) {
    return std::nullopt;
  }
  return r.error();
}

RunRecord make_run(Store& store) {
  RunRecord run;
  run.settings.command = {"echo", "{}"};
  int i = 0;
  auto r = store.create_run(run, [&](NewJob& job) -> util::Result<bool> {
    if (i++ == 1) {
      return false;
    }
    job.id = "first";
    job.fields = "[]";
    return true;
  });
  EXPECT_TRUE(r.ok()) << (r ? "" : describe(r.error()));
  return run;
}

class StoreErrors : public ::testing::Test {
protected:
  void TearDown() override {
    ::unsetenv("MUSTER_STORE_BUSY_TIMEOUT_MS");
    if (m_mounted) {
      // Lazily, so a store a failed assertion left open cannot keep it.
      EXPECT_EQ(::umount2(m_dir.c_str(), MNT_DETACH), 0)
          << "umount " << m_dir << ": " << std::strerror(errno);
    }
    std::error_code ec;
    // So that the directory can be removed.
    std::filesystem::permissions(m_dir + "/store", std::filesystem::perms::owner_all, ec);
  }

  /// Mounts a tmpfs of `size` on the test's directory; false (with why in
  /// m_skip) when this process may not.
  bool mount_tmpfs(const std::string& size) {
    if (::geteuid() != 0) {
      m_skip = "needs root to mount a tmpfs";
      return false;
    }
    const std::string opts = "size=" + size + ",mode=0755";
    if (::mount("tmpfs", m_dir.c_str(), "tmpfs", 0, opts.c_str()) != 0) {
      m_skip = std::string("mount tmpfs failed: ") + std::strerror(errno);
      return false;
    }
    m_mounted = true;
    return true;
  }

  std::string store_dir() const { return m_dir + "/store"; }

  util::test_support::TempDir m_tmp{"muster-store-errors"};
  const std::string m_dir = m_tmp.path();
  bool m_mounted = false;
  std::string m_skip;
};

TEST_F(StoreErrors, FullDiskIsDiskFullAndSaysToFreeSpace) {
  if (!mount_tmpfs("2m")) {
    GTEST_SKIP() << m_skip;
  }
  auto store = store::open(store_dir(), Create::yes);
  ASSERT_TRUE(store.ok()) << describe(store.error());
  auto run = make_run(**store);
  std::optional<util::Error> failed;
  int next_id = 0;
  for (int round = 0; round < 1000 && !failed; ++round) {
    failed = add_big_jobs(**store, run.rid, 20, 4096, next_id);
  }
  ASSERT_TRUE(failed.has_value())
      << "2 MB took " << next_id << " jobs of 4 KB without an error";
  EXPECT_EQ(failed->kind, util::ErrorKind::disk_full) << describe(*failed);
  EXPECT_NE(failed->message.find("disk is full"), std::string::npos) << failed->message;
  EXPECT_NE(failed->message.find("free space"), std::string::npos) << failed->message;
  EXPECT_NE(failed->message.find(store_dir()), std::string::npos) << failed->message;
}

TEST_F(StoreErrors, ReadOnlyStoreIsUnavailableAndSaysItCannotBeWritten) {
  const bool root = ::geteuid() == 0;
  if (root && !mount_tmpfs("4m")) {
    GTEST_SKIP() << m_skip;
  }
  {
    auto store = store::open(store_dir(), Create::yes);
    ASSERT_TRUE(store.ok()) << describe(store.error());
    make_run(**store);
  }
  if (root) {
    // Root ignores file modes: only a read-only filesystem stops it.
    ASSERT_EQ(::mount("tmpfs", m_dir.c_str(), "tmpfs", MS_REMOUNT | MS_RDONLY, nullptr),
              0)
        << "remount read-only: " << std::strerror(errno);
  } else {
    for (const char* f : {"/muster.db", "/muster.db-wal", "/muster.db-shm"}) {
      ::chmod((store_dir() + f).c_str(), 0444);
    }
    ASSERT_EQ(::chmod(store_dir().c_str(), 0555), 0);
  }
  // Either opening or the first write fails; both must say why.
  auto store = store::open(store_dir(), Create::no);
  std::optional<util::Error> failed;
  if (!store) {
    failed = store.error();
  } else {
    int next_id = 0;
    auto runs = (*store)->list_runs();
    ASSERT_TRUE(runs.ok() && !runs->empty());
    failed = add_big_jobs(**store, runs->front().rid, 1, 10, next_id);
  }
  ASSERT_TRUE(failed.has_value()) << "a write to a read-only store succeeded";
  EXPECT_EQ(failed->kind, util::ErrorKind::store_unavailable) << describe(*failed);
  EXPECT_NE(failed->message.find("cannot be written"), std::string::npos)
      << failed->message;
  EXPECT_NE(failed->message.find("read-only"), std::string::npos) << failed->message;
}

TEST_F(StoreErrors, GarbageDatabaseIsCorrupt) {
  {
    auto store = store::open(store_dir(), Create::yes);
    ASSERT_TRUE(store.ok()) << describe(store.error());
    make_run(**store);
  }
  std::filesystem::remove(store_dir() + "/muster.db-wal");
  std::filesystem::remove(store_dir() + "/muster.db-shm");
  {
    std::ofstream out(store_dir() + "/muster.db", std::ios::binary | std::ios::trunc);
    for (int i = 0; i < 4096; ++i) {
      out << "this is not a database ";
    }
  }
  auto store = store::open(store_dir(), Create::no);
  ASSERT_FALSE(store.ok()) << "a garbage file opened as a store";
  EXPECT_EQ(store.error().kind, util::ErrorKind::corrupt) << describe(store.error());
  EXPECT_NE(store.error().message.find("damaged"), std::string::npos)
      << store.error().message;
  EXPECT_NE(store.error().message.find("backup"), std::string::npos)
      << store.error().message;
}

TEST_F(StoreErrors, StoreLockedPastItsTimeoutIsUnavailableAndSaysLocked) {
  ::setenv("MUSTER_STORE_BUSY_TIMEOUT_MS", "100", 1);
  auto store = store::open(store_dir(), Create::yes);
  ASSERT_TRUE(store.ok()) << describe(store.error());
  auto run = make_run(**store);
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open((store_dir() + "/muster.db").c_str(), &other), SQLITE_OK);
  char* msg = nullptr;
  ASSERT_EQ(sqlite3_exec(other, "BEGIN EXCLUSIVE", nullptr, nullptr, &msg), SQLITE_OK)
      << (msg ? msg : "");
  const auto t0 = std::chrono::steady_clock::now();
  int next_id = 0;
  auto failed = add_big_jobs(**store, run.rid, 1, 10, next_id);
  const auto waited = std::chrono::steady_clock::now() - t0;
  sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(other);
  ASSERT_TRUE(failed.has_value())
      << "a write went through another connection's exclusive lock";
  EXPECT_EQ(failed->kind, util::ErrorKind::store_unavailable) << describe(*failed);
  EXPECT_NE(failed->message.find("locked"), std::string::npos) << failed->message;
  EXPECT_LT(waited, std::chrono::seconds(2))
      << "the busy timeout from the environment was ignored";
  EXPECT_GE(waited, std::chrono::milliseconds(80))
      << "it did not wait for the lock at all";
  // Once the lock is gone the same connection writes again.
  EXPECT_FALSE(add_big_jobs(**store, run.rid, 1, 10, next_id).has_value());
}

TEST_F(StoreErrors, MessageSaysWhatTheStoreWasDoingAndNeverTheSql) {
  ::setenv("MUSTER_STORE_BUSY_TIMEOUT_MS", "50", 1);
  auto store = store::open(store_dir(), Create::yes);
  ASSERT_TRUE(store.ok()) << describe(store.error());
  auto run = make_run(**store);
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open((store_dir() + "/muster.db").c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK);
  int next_id = 0;
  auto failed = add_big_jobs(**store, run.rid, 1, 10, next_id);
  auto retried = (*store)->retry(run.rid, RetrySelection{true, false, std::nullopt},
                                 [](int64_t) { return Event{}; });
  sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(other);
  ASSERT_TRUE(failed.has_value());
  ASSERT_FALSE(retried.ok());
  const std::string path = store_dir() + "/muster.db";
  EXPECT_EQ(failed->message.rfind("cannot add jobs in store " + path + ": ", 0), 0u)
      << failed->message;
  EXPECT_EQ(
      retried.error().message.rfind("cannot move jobs back to pending in store ", 0), 0u)
      << retried.error().message;
  for (const std::string& message : {failed->message, retried.error().message}) {
    for (const char* sql : {"BEGIN", "INSERT", "UPDATE", "SELECT", "WHERE"}) {
      EXPECT_EQ(message.find(sql), std::string::npos) << sql << " in: " << message;
    }
  }
}

TEST_F(StoreErrors, ClassifyNamesTheActionAndTheReason) {
  const auto e = classify(SQLITE_CORRUPT, 0, "s/muster.db", "claim jobs",
                          "database disk image is malformed");
  EXPECT_EQ(e.kind, util::ErrorKind::corrupt);
  EXPECT_EQ(e.message.rfind("cannot claim jobs in store s/muster.db: it is damaged", 0),
            0u)
      << e.message;
  EXPECT_NE(e.message.find("database disk image is malformed"), std::string::npos)
      << e.message;
  EXPECT_NE(e.message.find("muster check"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find(".recover"), std::string::npos) << e.message;
}

/// The bytes of the file at `path`.
std::string contents(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST_F(StoreErrors, DamagedPagesAreRefusedForWritingAndCheckListsThem) {
  {
    auto store = store::open(store_dir(), Create::yes);
    ASSERT_TRUE(store.ok()) << describe(store.error());
    auto run = make_run(**store);
    int next_id = 0;
    ASSERT_FALSE(add_big_jobs(**store, run.rid, 300, 200, next_id).has_value());
  } // the last connection checkpoints the WAL into the file and removes it
  const std::string db = store_dir() + "/muster.db";
  ASSERT_FALSE(std::filesystem::exists(db + "-wal"));
  const auto size = std::filesystem::file_size(db);
  ASSERT_GT(size, 20u * 4096);
  {
    std::fstream f(db, std::ios::binary | std::ios::in | std::ios::out);
    // The next-to-last page holds jobs, never the schema (its pages come
    // first, written when the store was made).
    f.seekp(static_cast<std::streamoff>((size / 4096 - 2) * 4096));
    f << std::string(4096, '\x5a');
  }
  const std::string damaged = contents(db);

  auto writer = store::open(store_dir(), Create::no);
  ASSERT_FALSE(writer.ok()) << "a damaged store was opened for writing";
  EXPECT_EQ(writer.error().kind, util::ErrorKind::corrupt) << describe(writer.error());
  EXPECT_NE(writer.error().message.find("is damaged"), std::string::npos)
      << writer.error().message;
  EXPECT_NE(writer.error().message.find("muster check"), std::string::npos)
      << writer.error().message;
  EXPECT_EQ(contents(db), damaged) << "opening wrote to the damaged file";

  auto reader = store::open(store_dir(), Create::no, Access::read_only);
  ASSERT_TRUE(reader.ok()) << describe(reader.error());
  auto report = (*reader)->check();
  ASSERT_TRUE(report.ok()) << describe(report.error());
  EXPECT_FALSE(report->problems.empty()) << "check found nothing wrong";
  EXPECT_EQ(report->what, db);
  EXPECT_NE(report->advice.find("backup"), std::string::npos) << report->advice;
  EXPECT_EQ(contents(db), damaged) << "check wrote to the damaged file";
}

TEST_F(StoreErrors, SoundStoreChecksClean) {
  auto store = store::open(store_dir(), Create::yes);
  ASSERT_TRUE(store.ok()) << describe(store.error());
  make_run(**store);
  auto report = (*store)->check();
  ASSERT_TRUE(report.ok()) << describe(report.error());
  EXPECT_TRUE(report->problems.empty()) << report->problems.front();
}

TEST_F(StoreErrors, NewStoreTakesTheUmasksModeNotSqlites) {
  const mode_t before = ::umask(077);
  auto store = store::open(store_dir(), Create::yes);
  ::umask(before);
  ASSERT_TRUE(store.ok()) << describe(store.error());
  make_run(**store);
  struct stat st {};
  ASSERT_EQ(::stat((store_dir() + "/muster.db").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u) << std::oct << (st.st_mode & 0777);
  ASSERT_EQ(::stat((store_dir() + "/muster.db-wal").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u) << std::oct << (st.st_mode & 0777);
  ASSERT_EQ(::stat(store_dir().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u) << std::oct << (st.st_mode & 0777);
}

TEST_F(StoreErrors, ReadOnlyOpenCreatesNothing) {
  {
    auto store = store::open(store_dir(), Create::yes);
    ASSERT_TRUE(store.ok()) << describe(store.error());
    make_run(**store);
  }
  ASSERT_FALSE(std::filesystem::exists(store_dir() + "/muster.db-wal"));
  auto reader = store::open(store_dir(), Create::no, Access::read_only);
  ASSERT_TRUE(reader.ok()) << describe(reader.error());
  auto runs = (*reader)->list_runs();
  ASSERT_TRUE(runs.ok()) << describe(runs.error());
  EXPECT_EQ(runs->size(), 1u);
  int next_id = 0;
  auto wrote = add_big_jobs(**reader, runs->front().rid, 1, 10, next_id);
  ASSERT_TRUE(wrote.has_value()) << "a read-only store took a write";
  auto missing = store::open(m_dir + "/none", Create::yes, Access::read_only);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, util::ErrorKind::not_found)
      << describe(missing.error());
  EXPECT_FALSE(std::filesystem::exists(m_dir + "/none"));
}

} // namespace
} // namespace muster::store::sqlite
