#pragma once
// `muster copy`: the record of a run moved to another store (SQLite to
// PostgreSQL, say): the run, every job in the state it reached, the events
// and the captured output.

#include "store/store.hpp"
#include "util/result.hpp"

#include <cstdint>
#include <string>

namespace muster::app {

struct Copied {
  store::RunRecord run; ///< as written to the other store
  int64_t jobs = 0;
  bool files = false; ///< its captured output was copied too
};

/// Copies run `ref` of the store at `from` to the store at `to` (created
/// when new). A run that a live agent runs is refused (busy): pause or stop
/// it first. Jobs that were running (their agent is gone) are copied as
/// interrupted, and a running run as paused: `muster resume` on the other
/// store goes on from there. Nothing is written when the other store has a
/// run of that id or name.
util::Result<Copied> copy_run(const std::string& from, const std::string& ref,
                              const std::string& to);

} // namespace muster::app
