#pragma once
// Fixtures and helpers of the StoreConformance suite. Every backend runs the
// same tests through the Store interface alone; the few calls into that
// interface live here, so a change of a method's shape is fixed in one place.

#include "store/codec.hpp"
#include "store/store.hpp"
#include "util/test_support.hpp"
#include "util/time.hpp"

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <gtest/gtest.h>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace muster::store::conformance {

using core::JobState;

/// A backend under test, and what it can do beyond the Store interface.
struct Backend {
  std::string name;
  /// Opens (creating it when new) the store for the test's `dir`. Each call
  /// is a connection of its own, as another process's would be.
  std::function<util::Result<std::unique_ptr<Store>>(const std::string& dir)> open;
  /// Capability: stores written by earlier versions of this backend's schema.
  /// Builds, for `dir`, a store at schema `version` holding run "old123" with
  /// job "1" pending and job "2" succeeded. Empty when the backend has no
  /// schema versions to migrate from.
  std::function<util::Result<void>(const std::string& dir, int version)> make_at_version;
  /// The versions make_at_version can build: 1 .. newest_version - 1 are
  /// earlier ones, and a version above newest_version must be refused.
  int newest_version = 0;
};

/// Names the backend in test output, instead of its bytes.
inline void PrintTo(const Backend& b, std::ostream* os) {
  *os << b.name;
}

/// One job of a run to create: its key, locks and priority.
struct Spec {
  Spec(std::string k = "", std::string l = "", int64_t p = 0)
      : key(std::move(k)), priority(p) {
    if (!l.empty()) {
      locks.push_back(std::move(l));
    }
  }
  Spec(std::string k, std::vector<std::string> l, int64_t p = 0)
      : key(std::move(k)), locks(std::move(l)), priority(p) {}
  std::string key;
  std::vector<std::string> locks;
  int64_t priority;
};

inline bool nobody_alive(const Holder&) {
  return false;
}
inline bool everybody_alive(const Holder&) {
  return true;
}

/// Every holder is alive but agent `pid`'s: its process died.
inline std::function<bool(const Holder&)> alive_except(int64_t pid) {
  return [pid](const Holder& h) { return h.pid != pid; };
}

/// A holder on this test's host; `pid` tells agents apart.
inline Holder holder(int64_t pid) {
  return Holder{pid, "conformance-host", 4242, 0, 0, "tester"};
}

/// What a message says, for failure output.
template <typename T> std::string why(const util::Result<T>& r) {
  return r ? std::string("ok")
           : "error (" + std::string(util::to_string(r.error().kind)) +
                 "): " + r.error().message;
}

/// The ids of the claims, in the order returned.
inline std::vector<std::string> ids(const CommitResult& r) {
  std::vector<std::string> out;
  for (const auto& c : r.claims) {
    out.push_back(c.id);
  }
  return out;
}

/// An update that ends the claimed attempt in `state`.
inline Update finished(const Claim& c, JobState state, int64_t at) {
  Update u;
  u.jid = c.jid;
  u.state = state;
  u.outcome =
      state == JobState::succeeded ? core::Outcome::exited(0) : core::Outcome::exited(1);
  u.finished_at = at;
  u.key = c.key;
  u.locks = c.locks;
  u.claimed_at = c.claimed_at;
  return u;
}

/// An update that sends the claimed attempt to retrying until `retry_at`.
inline Update retrying(const Claim& c, int64_t at, int64_t retry_at) {
  Update u = finished(c, JobState::retrying, at);
  u.retry_at = retry_at;
  return u;
}

/// An update that gives the claimed attempt back uncounted and halts the run
/// until `until`, as a job that ran into a rate limit does.
inline Update halting(const Claim& c, int64_t at, int64_t until,
                      const std::string& reason) {
  Update u = finished(c, JobState::pending, at);
  u.uncounted = true;
  u.halt_until = until;
  u.halt_reason = reason;
  return u;
}

/// An update that records the attempt's process id.
inline Update started(const Claim& c, int64_t pid) {
  Update u;
  u.kind = Update::Kind::started;
  u.jid = c.jid;
  u.pid = pid;
  return u;
}

// -- Calls into the Store interface ---------------------------------------

/// Creates a run of `jobs` ("j1", "j2", ... in order) with `settings`.
inline util::Result<void> create_run(Store& store, RunRecord& run,
                                     const std::vector<Spec>& jobs) {
  size_t i = 0;
  return store.create_run(run, [&](NewJob& job) -> util::Result<bool> {
    if (i == jobs.size()) {
      return false;
    }
    job.id = "j" + std::to_string(i + 1);
    job.key = jobs[i].key;
    job.locks = jobs[i].locks;
    job.priority = jobs[i].priority;
    job.fields = encode_strings({std::to_string(i + 1)});
    job.where = "conformance:" + std::to_string(i + 1);
    ++i;
    return true;
  });
}

/// Makes `me` the run's holder, treating holders `is_alive` says are alive.
inline util::Result<Takeover>
take(Store& store, int64_t rid, int64_t pid,
     const std::function<bool(const Holder&)>& is_alive = nobody_alive) {
  return store.acquire(rid, holder(pid), is_alive);
}

/// Adds agent `pid` beside the run's live holder.
inline util::Result<Takeover> join(Store& store, int64_t rid, int64_t pid,
                                   const std::function<bool(const Holder&)>& is_alive) {
  return store.join(rid, holder(pid), is_alive);
}

/// Claims due jobs for `slots`, for agent `aid` (0: the run's only agent).
inline util::Result<CommitResult> claim(Store& store, int64_t rid,
                                        const std::vector<int64_t>& slots, int64_t now,
                                        int64_t aid = 0) {
  return store.commit(rid, {}, slots, now, aid);
}

/// Records `updates`, claiming nothing.
inline util::Result<CommitResult> record(Store& store, int64_t rid,
                                         const std::vector<Update>& updates, int64_t now,
                                         int64_t aid = 0) {
  return store.commit(rid, updates, {}, now, aid);
}

/// Records `updates`, then claims for `slots`, in one transaction.
inline util::Result<CommitResult> record_and_claim(Store& store, int64_t rid,
                                                   const std::vector<Update>& updates,
                                                   const std::vector<int64_t>& slots,
                                                   int64_t now, int64_t aid = 0) {
  return store.commit(rid, updates, slots, now, aid);
}

/// The job `id` of the run, or a failed expectation and a default record.
inline JobRecord job(Store& store, int64_t rid, const std::string& id) {
  JobFilter f;
  f.id = id;
  auto found = store.jobs(rid, f);
  EXPECT_TRUE(found.ok()) << why(found);
  if (!found || found->size() != 1) {
    ADD_FAILURE() << "no single job '" << id << "' in run " << rid;
    return {};
  }
  return found->front();
}

inline core::Counts counts(Store& store, int64_t rid) {
  auto c = store.counts(rid);
  EXPECT_TRUE(c.ok()) << why(c);
  return c ? *c : core::Counts{};
}

/// The jobs of the run in `state`, by id.
inline std::vector<std::string> ids_in(Store& store, int64_t rid, JobState state) {
  JobFilter f;
  f.state = state;
  auto found = store.jobs(rid, f);
  EXPECT_TRUE(found.ok()) << why(found);
  std::vector<std::string> out;
  for (const auto& j : found ? *found : std::vector<JobRecord>{}) {
    out.push_back(j.id);
  }
  return out;
}

/// The agent `aid` as recorded, or nullopt.
inline std::optional<AgentRecord> agent(Store& store, int64_t rid, int64_t aid) {
  auto all = store.agents(rid);
  EXPECT_TRUE(all.ok()) << why(all);
  for (const auto& a : all ? *all : std::vector<AgentRecord>{}) {
    if (a.aid == aid) {
      return a;
    }
  }
  return std::nullopt;
}

/// The agent's state word: "running", "stopped" or "offline".
inline std::string agent_state(Store& store, int64_t rid, int64_t aid) {
  auto a = agent(store, rid, aid);
  return a ? std::string(to_string(a->state)) : std::string("<no agent>");
}

/// An event from another terminal.
inline Event event(const std::string& action, const std::string& detail, int64_t at) {
  Event e;
  e.at = at;
  e.host = "conformance-host";
  e.user = "tester";
  e.pid = 77;
  e.action = action;
  e.detail = detail;
  return e;
}

/// Makes event(action, "N detail") for a change of N jobs.
inline EventFor counted(const std::string& action, const std::string& detail) {
  return [=](int64_t n) { return event(action, std::to_string(n) + " " + detail, 1); };
}

/// A control request from another terminal, recorded with its event.
inline util::Result<void> request(Store& store, int64_t rid,
                                  const std::optional<std::string>& what,
                                  std::optional<int64_t> target_slots, bool lift_halt,
                                  const std::string& action, int64_t at) {
  ControlChange change;
  if (what) {
    auto parsed = parse_control_request(*what);
    EXPECT_TRUE(parsed.has_value()) << "no control request '" << *what << "'";
    change.request = parsed.value_or(ControlRequest::none);
  }
  change.target_slots = target_slots;
  change.lift_halt = lift_halt;
  return store.set_control(rid, change, event(action, what.value_or(""), at));
}

/// The actions and details of the run's events, as "action: detail".
inline std::vector<std::string> event_lines(Store& store, int64_t rid) {
  auto events = store.events(rid);
  EXPECT_TRUE(events.ok()) << why(events);
  std::vector<std::string> out;
  if (!events) {
    return out;
  }
  for (const auto& e : *events) {
    out.push_back(e.action + ": " + e.detail);
  }
  return out;
}

/// The run's pending control request word ("" for none).
inline std::string control_request(Store& store, int64_t rid) {
  auto c = store.control(rid);
  EXPECT_TRUE(c.ok()) << why(c);
  return c ? std::string(to_string(c->request)) : std::string("<error>");
}

/// Appends jobs with `new_ids` to the run.
inline util::Result<int64_t> add_jobs(Store& store, int64_t rid,
                                      const std::vector<std::string>& new_ids) {
  size_t i = 0;
  return store.add_jobs(
      rid,
      [&](NewJob& job) -> util::Result<bool> {
        if (i == new_ids.size()) {
          return false;
        }
        job.id = new_ids[i];
        job.fields = encode_strings({new_ids[i]});
        job.where = "added:" + std::to_string(i + 1);
        ++i;
        return true;
      },
      counted("add", "job(s)"));
}

/// A fresh store per test, in a temporary directory of its own.
class StoreConformance : public ::testing::TestWithParam<Backend> {
protected:
  void SetUp() override {
    // A backend with a server runs where the harness started one
    // (MUSTER_TEST_POSTGRES); `make test` asks for it, and then its absence
    // fails instead of skipping.
    if (GetParam().name == "postgres" && !std::getenv("MUSTER_TEST_POSTGRES")) {
      if (std::getenv("MUSTER_REQUIRE_POSTGRES")) {
        FAIL() << "MUSTER_REQUIRE_POSTGRES is set but MUSTER_TEST_POSTGRES is not";
      }
      GTEST_SKIP() << "MUSTER_TEST_POSTGRES is not set: no PostgreSQL server to test";
    }
  }

  /// A new connection to this test's store.
  std::unique_ptr<Store> open() {
    auto s = GetParam().open(m_dir + "/store");
    EXPECT_TRUE(s.ok()) << why(s);
    return s ? std::move(*s) : nullptr;
  }

  /// A run of `jobs`, not yet held by any agent.
  RunRecord make_run(Store& store, core::RunSettings settings,
                     const std::vector<Spec>& jobs, const std::string& name = "") {
    RunRecord run;
    run.name = name;
    run.settings = std::move(settings);
    if (run.settings.command.empty()) {
      run.settings.command = {"echo", "{}"};
    }
    auto r = create_run(store, run, jobs);
    EXPECT_TRUE(r.ok()) << why(r);
    return run;
  }

  /// A run of `n` plain jobs, held by agent 1.
  RunRecord held_run(Store& store, int n, core::RunSettings settings = {}) {
    auto run =
        make_run(store, std::move(settings), std::vector<Spec>(static_cast<size_t>(n)));
    auto t = take(store, run.rid, 1);
    EXPECT_TRUE(t.ok()) << why(t);
    return run;
  }

  /// A held run (as held_run) and the claims of its first jobs.
  struct ClaimedRun {
    RunRecord run;
    std::vector<Claim> claims;
  };
  /// A run of `n` plain jobs of `max_attempts` each, held by agent 1, whose
  /// first jobs are claimed for `slots` at 1000.
  ClaimedRun claimed_run(Store& store, int n, const std::vector<int64_t>& slots,
                         int64_t max_attempts = 1) {
    core::RunSettings s;
    s.max_attempts = max_attempts;
    ClaimedRun out{held_run(store, n, s), {}};
    auto c = claim(store, out.run.rid, slots, 1000);
    EXPECT_TRUE(c.ok()) << why(c);
    if (c) {
      out.claims = c->claims;
    }
    return out;
  }

  util::test_support::TempDir m_tmp{"muster-conformance"};
  const std::string m_dir = m_tmp.path();
};

inline constexpr int64_t k_t0 = 1'795'474'680'000; // 2026-11-23 22:58 UTC

/// Runs `body(store, out)` in `n` forked children, each with a store
/// connection of its own and a pipe to write lines to; returns every line
/// and fails the test if a child did not exit 0.
inline std::vector<std::string>
in_processes(const Backend& backend, const std::string& dir, int n,
             const std::function<int(Store&, int, int)>& body) {
  std::vector<std::pair<pid_t, int>> children;
  for (int i = 0; i < n; ++i) {
    int fds[2];
    if (pipe(fds) != 0) {
      ADD_FAILURE() << "pipe failed";
      break;
    }
    pid_t pid = fork();
    if (pid < 0) {
      ADD_FAILURE() << "fork failed";
      break;
    }
    if (pid == 0) {
      close(fds[0]);
      auto store = backend.open(dir);
      _exit(store ? body(**store, i, fds[1]) : 2);
    }
    close(fds[1]);
    children.emplace_back(pid, fds[0]);
  }
  std::vector<std::string> lines;
  for (auto [pid, fd] : children) {
    std::string text;
    char buf[4096];
    ssize_t got = 0;
    while ((got = read(fd, buf, sizeof buf)) > 0) {
      text.append(buf, static_cast<size_t>(got));
    }
    close(fd);
    int status = 0;
    EXPECT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "child " << pid << " ended with status " << status
        << " (2: no store, 3: a commit failed, 4: a limit was broken, 5: never finished)";
    size_t start = 0;
    for (size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1) {
      lines.push_back(text.substr(start, nl - start));
    }
  }
  return lines;
}

inline void write_line(int fd, const std::string& line) {
  const std::string text = line + "\n";
  // Under PIPE_BUF, so whole; a short write would show as a missing claim.
  (void)!write(fd, text.data(), text.size());
}

} // namespace muster::store::conformance
