// `muster locks`: every lock held in the store, and by whom; `muster lock`
// and `muster unlock`: locks taken at run time by a named holder.

#include "app/locks.hpp"
#include "cli/common.hpp"
#include "core/locks.hpp"
#include "ui/table.hpp"
#include "ui/views.hpp"
#include "util/strings.hpp"
#include "util/time.hpp"

#include <algorithm>

namespace muster::cli {

int cmd_locks(const GlobalOptions& g) {
  auto store = open_store(g, store::Create::no, store::Access::read_only);
  const auto locks = check(app::locks(*store));
  if (g.json) {
    auto arr = nlohmann::ordered_json::array();
    for (const auto& l : locks) {
      arr.push_back(
          {{"name", l.name},
           {"holder", l.owner.empty() ? nlohmann::ordered_json(nullptr)
                                      : nlohmann::ordered_json(l.owner)},
           {"run", l.run_id.empty() ? nlohmann::ordered_json(nullptr)
                                    : nlohmann::ordered_json(l.run_id)},
           {"run_name", l.run_name.empty() ? nlohmann::ordered_json(nullptr)
                                           : nlohmann::ordered_json(l.run_name)},
           {"job", l.job_id.empty() ? nlohmann::ordered_json(nullptr)
                                    : nlohmann::ordered_json(l.job_id)},
           {"since", util::format_timestamp(l.since)},
           {"until", l.expires_at > 0
                         ? nlohmann::ordered_json(util::format_timestamp(l.expires_at))
                         : nlohmann::ordered_json(nullptr)},
           {"pid", l.holder.empty() ? nlohmann::ordered_json(nullptr)
                                    : nlohmann::ordered_json(l.holder.pid)},
           {"host", l.holder.empty() ? nlohmann::ordered_json(nullptr)
                                     : nlohmann::ordered_json(l.holder.host)},
           {"alive", l.holder.empty()
                         ? nlohmann::ordered_json(nullptr)
                         : nlohmann::ordered_json(app::holder_alive(l.holder))}});
    }
    std::printf("%s\n", ui::dump(arr, 2).c_str());
    return to_int(ExitCode::ok);
  }
  if (locks.empty()) {
    if (!g.quiet) {
      std::printf("no locks are held\n");
    }
    return to_int(ExitCode::ok);
  }
  ui::Table t({"LOCK", "HELD BY", "JOB", "SINCE", "UNTIL", "PROCESS"});
  for (const auto& l : locks) {
    const bool alive = app::holder_alive(l.holder);
    std::string by = l.owner;
    if (by.empty()) {
      by = "run " + l.run_id + (l.run_name.empty() ? "" : " \"" + l.run_name + "\"");
    }
    t.add({l.name, by, l.job_id.empty() ? "-" : l.job_id, util::format_clock(l.since),
           l.expires_at > 0 ? util::format_clock(l.expires_at) : "-",
           l.holder.empty()
               ? "-"
               : "pid " + std::to_string(l.holder.pid) + " on " + l.holder.host +
                     (alive ? "" : " (dead: freed when a run needs it)")});
  }
  t.print(stdout);
  return to_int(ExitCode::ok);
}

namespace {

std::vector<std::string> checked_names(const std::vector<std::string>& names) {
  std::vector<std::string> out;
  for (const auto& name : names) {
    if (auto r = core::check_lock_name(name); !r) {
      throw Failure{ExitCode::usage, "names: " + r.error().message};
    }
    if (std::find(out.begin(), out.end(), name) == out.end()) {
      out.push_back(name);
    }
  }
  return out;
}

std::string checked_holder(const std::string& holder) {
  if (auto r = core::check_lock_name(holder); !r) {
    throw Failure{ExitCode::usage, "--holder: expected a name, such as a session id (" +
                                       r.error().message + ")"};
  }
  return holder;
}

} // namespace

int cmd_lock(const GlobalOptions& g, const LockOptions& o) {
  store::LockRequest request;
  request.names = checked_names(o.names);
  request.owner = checked_holder(o.holder);
  int64_t ttl_ms = 0;
  if (!o.ttl.empty()) {
    auto ttl = util::parse_duration_ms(o.ttl);
    if (!ttl || *ttl <= 0) {
      throw Failure{ExitCode::usage, "--ttl: " + (ttl ? std::string("must be more than 0")
                                                      : ttl.error().message)};
    }
    ttl_ms = *ttl;
  }
  if (o.pid != 0) {
    request.process = check(app::process_holder(o.pid));
  }
  auto store = open_store(g, store::Create::yes);
  request.expires_at = ttl_ms > 0 ? util::now_ms() + ttl_ms : 0;
  check(app::lock(*store, request, o.wait, [&](const store::LockRecord& held) {
    if (!g.quiet && !g.json) {
      std::fprintf(stderr, "muster: waiting: %s\n", app::describe_lock(held).c_str());
    }
  }));
  if (g.json) {
    std::printf("%s\n",
                ui::dump({{"holder", request.owner},
                          {"locked", request.names},
                          {"until", request.expires_at > 0
                                        ? nlohmann::ordered_json(
                                              util::format_timestamp(request.expires_at))
                                        : nlohmann::ordered_json(nullptr)}},
                         2)
                    .c_str());
  } else if (!g.quiet) {
    std::printf("locked %s for %s%s\n", util::join(request.names, " ").c_str(),
                request.owner.c_str(),
                request.expires_at > 0
                    ? (" until " + util::format_clock(request.expires_at)).c_str()
                    : "");
  }
  return to_int(ExitCode::ok);
}

int cmd_unlock(const GlobalOptions& g, const LockOptions& o) {
  const auto names = checked_names(o.names);
  const std::string holder = checked_holder(o.holder);
  auto store = open_store(g, store::Create::no);
  const auto freed = check(app::unlock(*store, names, holder));
  if (g.json) {
    std::printf("%s\n", ui::dump({{"holder", holder}, {"unlocked", freed}}, 2).c_str());
  } else if (!g.quiet) {
    if (freed.empty()) {
      std::printf("%s held none of these locks\n", holder.c_str());
    } else {
      std::printf("unlocked %s\n", util::join(freed, " ").c_str());
    }
  }
  return to_int(ExitCode::ok);
}

} // namespace muster::cli
