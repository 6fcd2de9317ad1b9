#include "app/store.hpp"

#include "core/liveness.hpp"
#include "exec/proc.hpp"
#include "util/files.hpp"
#include "util/time.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <pwd.h>
#include <unistd.h>
#include <vector>

namespace muster::app {

std::string default_store_location() {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path dir = fs::current_path(ec);
  if (ec) {
    return ".muster";
  }
  std::vector<fs::path> ceilings;
  if (const char* env = std::getenv("MUSTER_CEILING_DIRS"); env && *env) {
    std::string_view list(env);
    while (!list.empty()) {
      const size_t colon = list.find(':');
      const fs::path p(std::string(list.substr(0, colon)));
      if (p.is_absolute()) {
        ceilings.push_back(fs::weakly_canonical(p, ec));
      }
      list =
          colon == std::string_view::npos ? std::string_view() : list.substr(colon + 1);
    }
  }
  std::string up;
  for (;;) {
    if (std::find(ceilings.begin(), ceilings.end(), dir) != ceilings.end()) {
      break;
    }
    if (fs::is_regular_file(dir / ".muster" / "muster.db", ec)) {
      return up + ".muster";
    }
    if (!dir.has_relative_path()) {
      break; // the root
    }
    dir = dir.parent_path();
    up += "../";
  }
  return ".muster";
}

namespace {

unsigned g_store_mode = 0700;

} // namespace

void set_store_mode(unsigned mode) {
  g_store_mode = mode;
}

util::Result<unsigned> parse_store_mode(const std::string& text) {
  const bool octal = !text.empty() && text.size() <= 4 &&
                     text.find_first_not_of("01234567") == std::string::npos;
  const unsigned mode = octal ? static_cast<unsigned>(std::stoul(text, nullptr, 8)) : 0;
  if (!octal || mode > 0777) {
    return util::Error{"store mode '" + text +
                           "': expected an octal mode such as 0700 or 0750",
                       util::ErrorKind::bad_input};
  }
  if ((mode & 0700) != 0700) {
    return util::Error{"store mode '" + text +
                           "': it must give the store's owner rwx (07xx), or muster "
                           "could not use the store it creates",
                       util::ErrorKind::bad_input};
  }
  return mode;
}

util::Result<std::unique_ptr<store::Store>>
open_store(const std::string& location, store::Create create, store::Access access) {
  if (access == store::Access::read_write) {
    util::use_store_mode(g_store_mode);
  }
  return store::open(location, create, access);
}

util::Result<store::CheckReport> check_store(const std::string& location) {
  auto store = store::open(location, store::Create::no, store::Access::read_only);
  if (!store && store.error().kind == util::ErrorKind::corrupt) {
    // It cannot even be opened: the advice is what check gives for any damage.
    return store::CheckReport{
        location, {store.error().message}, store::damaged_advice(location)};
  }
  if (!store) {
    return store.error();
  }
  return (*store)->check();
}

util::Result<store::RunRecord> find_run(store::Store& store, const std::string& ref) {
  return store.find_run(ref);
}

core::RunFiles run_files(const std::string& location, const std::string& run_id) {
  return core::RunFiles(store::files_dir(location), run_id);
}

store::Holder this_holder() {
  store::Holder h;
  h.pid = getpid();
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  h.host = host;
  h.start_time = exec::process_start_ticks(getpid());
  return h;
}

bool holder_alive(const store::Holder& h) {
  if (h.empty()) {
    return false;
  }
  static const std::string k_host = this_holder().host;
  if (h.host == k_host) {
    return exec::process_alive(static_cast<pid_t>(h.pid), h.start_time);
  }
  // Another host shares this store: alive while its heartbeats come (three
  // intervals), or for a minute when its interval is not known.
  return !core::is_offline(util::now_ms(), h.heartbeat_at, h.heartbeat_ms);
}

bool agent_gone(const store::AgentRecord& a, int64_t now_ms) {
  return a.state == store::AgentState::offline ||
         (a.state == store::AgentState::running &&
          (!holder_alive(a.who) ||
           core::is_offline(now_ms, a.who.heartbeat_at, a.who.heartbeat_ms)));
}

util::Result<std::set<int64_t>> live_agents(store::Store& store, int64_t rid) {
  auto agents = store.agents(rid);
  if (!agents) {
    return agents.error();
  }
  const int64_t now = util::now_ms();
  std::set<int64_t> out;
  for (const auto& a : *agents) {
    if (a.state == store::AgentState::running && !agent_gone(a, now)) {
      out.insert(a.aid);
    }
  }
  return out;
}

std::string shown_state(const store::RunRecord& run, const core::Counts& counts,
                        bool agent_alive) {
  std::string state(core::to_string(run.state));
  if (!agent_alive &&
      (run.state == core::RunState::running || counts[core::JobState::running] > 0)) {
    state += " (agent gone)";
  }
  return state;
}

store::Event make_event(const std::string& action, const std::string& detail) {
  store::Event e;
  e.at = util::now_ms();
  e.host = this_holder().host;
  e.pid = getpid();
  if (const struct passwd* pw = getpwuid(geteuid())) {
    e.user = pw->pw_name;
  } else {
    e.user = std::to_string(geteuid());
  }
  e.action = action;
  e.detail = detail;
  return e;
}

util::Result<void> refuse_ended(const store::RunRecord& run, const std::string& what) {
  if (core::run_ended(run.state)) {
    return util::Error{"run " + run.id + " has ended (" +
                       std::string(core::to_string(run.state)) +
                       "): there is nothing to " + what};
  }
  return {};
}

} // namespace muster::app
