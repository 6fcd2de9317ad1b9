#include "app/queries.hpp"

namespace muster::app {

util::Result<RunStatus> run_status(store::Store& store, const std::string& ref) {
  auto run = store.find_run(ref);
  if (!run) {
    return run.error();
  }
  auto counts = store.counts(run->rid);
  if (!counts) {
    return counts.error();
  }
  return RunStatus{std::move(*run), *counts};
}

util::Result<std::vector<store::JobRecord>>
jobs(store::Store& store, const std::string& ref, const store::JobFilter& filter) {
  auto run = store.find_run(ref);
  if (!run) {
    return run.error();
  }
  return store.jobs(run->rid, filter);
}

util::Result<std::vector<store::Event>> events(store::Store& store,
                                               const std::string& ref) {
  auto run = store.find_run(ref);
  if (!run) {
    return run.error();
  }
  return store.events(run->rid);
}

} // namespace muster::app
