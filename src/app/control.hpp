#pragma once
// Control of a run from any process: pause, resume, cancel, scale, add,
// retry and join. Requests go through the store; the run's live agent reads
// them within a quarter of a second. Every request is recorded as an event.

#include "app/create.hpp"
#include "app/execute.hpp"
#include "store/store.hpp"
#include "util/result.hpp"

#include <functional>
#include <string>
#include <vector>

namespace muster::app {

/// A run after a control request, and whether a live agent took it.
struct Controlled {
  store::RunRecord run;
  bool agent_alive = false; ///< its agent (run.holder) acts on the request
};

/// Pauses the run: no new claims; with `stop_running`, running jobs stop.
/// With a live agent, waits up to 2 s for it to say so.
util::Result<Controlled> pause(store::Store& store, const std::string& ref,
                               bool stop_running);

/// Pauses every run of the store that a live agent runs (`pause --all`).
/// Runs with no live agent start nothing anyway and are left as they are.
util::Result<std::vector<Controlled>> pause_all(store::Store& store, bool stop_running);

/// Clears the pause of every paused run that a live agent runs (`resume
/// --all`), with `slots` and `now` as `resume`. A stopped run needs an agent:
/// `muster resume RUN` in a terminal.
util::Result<std::vector<Controlled>> resume_all(store::Store& store, int64_t slots,
                                                 bool now);

/// Clears a pause (and with `now`, a halt's cooldown). With a live agent it
/// continues (with `slots` when > 0); otherwise the caller runs an agent on
/// the returned run.
util::Result<Controlled> resume(store::Store& store, const std::string& ref,
                                int64_t slots, bool now);

/// Records that this process joins the run as another agent; the caller
/// then runs `run_agent` with `join`.
util::Result<store::RunRecord> join(store::Store& store, const std::string& ref,
                                    int64_t slots);

/// Asked before cancelling, with the run and its counts: true to go on.
/// An error ends the cancel (no terminal to ask on, say).
using ConfirmCancel =
    std::function<util::Result<bool>(const store::RunRecord&, const core::Counts&)>;

/// What `cancel` did.
struct Cancelled {
  store::RunRecord run;
  bool cancelled = false; ///< false: the confirmation said no
  core::Counts after;
  int64_t agent_pid = 0;      ///< the live agent that acted on it, if any
  bool finished_here = false; ///< no live agent (or it died): this process did it
};

/// Cancels the run: its agent (or this process, when it has none, or when it
/// dies during the cancel) stops the running jobs, tears the slots down and
/// cancels what is unfinished. Succeeds only once the run is cancelled.
/// `confirm` is asked first when set.
util::Result<Cancelled> cancel(store::Store& store, const std::string& location,
                               const std::string& ref, const ConfirmCancel& confirm);

/// Asks the run's live agent to go to `slots` slots.
util::Result<Controlled> scale(store::Store& store, const std::string& ref,
                               int64_t slots);

/// What `add_jobs` added.
struct Added {
  Controlled target;
  int64_t added = 0;
};

/// Appends jobs made from `inputs` with the run's own templates, all or
/// nothing.
util::Result<Added> add_jobs(store::Store& store, const std::string& ref,
                             const RunInputs& inputs);

/// What `retry` moved back to pending.
struct Retried {
  Controlled target;
  int64_t requeued = 0;
};

/// Moves the selected failed or interrupted jobs back to pending (every
/// failed and interrupted one when the selection names none).
util::Result<Retried> retry(store::Store& store, const std::string& ref,
                            store::RetrySelection sel);

} // namespace muster::app
