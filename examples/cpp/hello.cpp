// Runs `echo {}` over three values in two slots, through muster's library,
// and prints each job's state. Usage: muster_example [STORE_DIR]
#include "app/create.hpp"
#include "app/execute.hpp"
#include "app/queries.hpp"
#include "app/store.hpp"

#include <cstdio>
#include <cstdlib>

using namespace muster;

// Every app/ call returns a value or an error; this example stops at the first error.
template <typename T> T must(util::Result<T> r) {
  if (!r) {
    std::fprintf(stderr, "hello: %s\n", r.error().message.c_str());
    std::exit(1);
  }
  return std::move(*r);
}

int main(int argc, char** argv) {
  const std::string location = argc > 1 ? argv[1] : ".muster";
  auto store = must(app::open_store(location, store::Create::yes));

  core::RunSettings settings;
  settings.command = {"echo", "{}"};
  settings.slots = 2;
  app::RunInputs inputs;
  inputs.groups = {{"apple", "banana", "cherry"}}; // as `::: apple banana cherry`
  const auto templates = must(app::check_templates(settings));
  const auto run = must(app::create_run(location, "", settings, templates, inputs, {}));

  agent::Reporter quiet; // the CLI passes its progress line here
  must(app::run_agent(*store, location, run, {}, quiet));
  for (const auto& job : must(app::jobs(*store, run.id))) {
    std::printf("job %s: %s\n", job.id.c_str(),
                std::string(core::to_string(job.state)).c_str());
  }
}
