#include "app/create.hpp"

#include "app/execute.hpp"
#include "app/store.hpp"
#include "store/codec.hpp"
#include "store/open.hpp"
#include "util/strings.hpp"
#include "util/time.hpp"

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <sys/stat.h>
#include <unordered_map>

namespace muster::app {

namespace {

// The command and the hooks may use only what the slots own.
util::Result<void> check_slot_template(const core::RunSettings& s,
                                       const core::Template& t, const std::string& what) {
  if (auto r = t.check_ports(s.ports, what); !r) {
    return r;
  }
  if (t.uses_slot_dir() && !s.slot.dir) {
    return util::Error{what + " uses {slot_dir}, but slots have no directory: "
                              "set dir in [slots]"};
  }
  return {};
}

util::Result<JobSource> open_source(core::RunSettings& s, const JobTemplates& templates,
                                    const RunInputs& inputs, int64_t first_seq) {
  auto rows = open_rows(inputs.files, inputs.format, inputs.json_path, inputs.groups,
                        inputs.linked);
  if (!rows) {
    return rows.error();
  }
  JobSource source(templates, std::move(*rows), first_seq);
  for (const auto& label : source.labels()) {
    s.inputs.push_back(label);
  }
  if (auto r = source.check_fields(); !r) {
    return r.error();
  }
  return source;
}

// A setting's value as its flag takes it: durations, sizes, words.
std::string setting_text(const std::string& key, const nlohmann::json& value) {
  if (value.is_number_integer() && key.ends_with("_ms")) {
    const auto ms = value.get<int64_t>();
    return ms <= 0     ? "none"
           : ms < 1000 ? std::to_string(ms) + "ms"
                       : util::format_duration(ms);
  }
  if (value.is_number_integer() && key == "max_output") {
    return util::format_bytes(value.get<uint64_t>());
  }
  return value.is_string() ? value.get<std::string>() : value.dump();
}

} // namespace

util::Result<std::vector<core::SlotPorts>> plan_slots(const core::RunSettings& s) {
  const std::pair<const std::string*, const char*> hooks[] = {
      {&s.slot.setup, "slots.setup"},
      {&s.slot.teardown, "slots.teardown"},
      {&s.slot.before_job, "slots.before_job"},
      {&s.slot.after_job, "slots.after_job"}};
  for (const auto& [script, what] : hooks) {
    if (!script->empty()) {
      auto t = core::Template::parse_word(*script, core::Shell::yes);
      if (!t) {
        return util::Error{std::string(what) + ": " + t.error().message};
      }
      if (auto r = check_slot_template(s, *t, what); !r) {
        return r.error();
      }
      const bool per_job = script == &s.slot.before_job || script == &s.slot.after_job;
      if (const std::string p = t->job_placeholder(); !per_job && !p.empty()) {
        return util::Error{
            std::string(what) + ": " + p +
                " needs a job, but this hook runs once per slot, with none; "
                "use it in slots.before_job or slots.after_job",
            util::ErrorKind::bad_input};
      }
    }
  }
  return core::plan_ports(s.ports, s.slots);
}

util::Result<JobTemplates> check_templates(const core::RunSettings& s) {
  auto tmpl = core::Template::parse_command(s.command, s.shell);
  if (!tmpl) {
    return tmpl.error();
  }
  if (auto r = check_slot_template(s, *tmpl, "the command"); !r) {
    return r.error();
  }
  return JobTemplates::parse(s);
}

util::Result<int64_t>
validate_rows(const core::RunSettings& settings, const JobTemplates& templates,
              const RunInputs& inputs,
              const std::function<void(const std::vector<std::string>& argv)>& each) {
  core::RunSettings s = settings;
  auto source = open_source(s, templates, inputs, 0);
  if (!source) {
    return source.error();
  }
  std::unordered_map<std::string, std::string> seen;
  store::NewJob job;
  std::vector<std::string> names, values;
  for (;;) {
    auto more = source->next(job);
    if (!more) {
      return more.error();
    }
    if (!*more) {
      break;
    }
    if (auto [it, added] = seen.emplace(job.id, job.where); !added) {
      return util::Error{job.where + ": duplicate job id '" + util::printable(job.id) +
                         "' (first at " + it->second + ")"};
    }
    if (each) {
      if (auto d = store::decode_fields(job.fields, names, values); !d) {
        return d.error();
      }
      const auto row = core::RowView::stored(names.empty() ? source->columns() : names,
                                             values, job.raw);
      each(templates.command.render_argv(
          row, core::JobContext{job.id, "", 0, 1, nullptr, source->count()}));
    }
  }
  if (each) {
    return source->count();
  }
  auto ports = core::plan_ports(s.ports, s.slots);
  if (!ports) {
    return ports.error();
  }
  if (auto r = ports_free(*ports); !r) {
    return r.error();
  }
  return source->count();
}

util::Result<store::RunRecord>
create_run(const std::string& location, const std::string& name,
           core::RunSettings settings, const JobTemplates& templates,
           const RunInputs& inputs, const CreateOptions& opts) {
  auto source = open_source(settings, templates, inputs, 0);
  if (!source) {
    return source.error();
  }
  if (opts.check_ports) {
    auto ports = core::plan_ports(settings.ports, settings.slots);
    if (!ports) {
      return ports.error();
    }
    if (auto r = ports_free(*ports); !r) {
      return r.error();
    }
  }
  const std::string dir = store::files_dir(location);
  const bool fresh_store = store::is_new(location);
  store::RunRecord run;
  run.name = name;
  run.settings = std::move(settings);
  run.columns = source->columns();
  auto store = open_store(location, store::Create::yes);
  if (!store) {
    return store.error();
  }
  if (!run.settings.locks.empty() && opts.check_locks) {
    // Refused before the run exists, so a refusal leaves nothing behind.
    if (auto r =
            wait_for_locks(**store, 0, run.settings.locks, opts.wait_locks, opts.waiting);
        !r) {
      return r.error();
    }
  }
  auto next = [&source](store::NewJob& job) { return source->next(job); };
  if (auto r = (*store)->create_run(run, next); !r) {
    store->reset();
    if (fresh_store) {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
    return r.error();
  }
  return run;
}

util::Result<std::optional<store::RunRecord>> find_named(const std::string& location,
                                                         const std::string& name) {
  if (name.empty() || store::is_new(location)) {
    return std::optional<store::RunRecord>();
  }
  auto store = open_store(location, store::Create::no, store::Access::read_only);
  if (!store && store.error().kind == util::ErrorKind::not_found) {
    return std::optional<store::RunRecord>(); // a directory with no database yet
  }
  if (!store) {
    return store.error();
  }
  auto existing = (*store)->find_run(name);
  if (existing && existing->name == name) {
    return std::optional<store::RunRecord>(std::move(*existing));
  }
  if (existing && existing->id == name) {
    // An id is looked up before a name: this name would find that run.
    return util::Error{"--name " + name + ": that is the id of run " + existing->id +
                           "; choose a name that is not a run's id",
                       util::ErrorKind::bad_input};
  }
  return std::optional<store::RunRecord>();
}

util::Result<Resumable> check_resumable(const store::RunRecord& run,
                                        const std::string& name,
                                        const core::RunSettings& wanted,
                                        const std::set<std::string>& given) {
  if (run.state == core::RunState::cancelled) {
    return util::Error{"a run named '" + name + "' was cancelled; use another --name"};
  }
  if (run.settings.command != wanted.command) {
    return util::Error{"a run named '" + name + "' exists with another command (" +
                       util::shell_words(run.settings.command) +
                       "); use `muster resume " + name + "` or another --name"};
  }
  // Settings by their flag, where they have one; `safe` ones are read by the
  // agent each time it uses them, so a new value applies from the next job.
  struct Flag {
    std::string_view name;
    bool safe;
  };
  static const std::map<std::string, Flag> k_flags = {
      {"max_attempts", {"--retries", true}},
      {"timeout_ms", {"--timeout", true}},
      {"backoff_ms", {"--backoff", true}},
      {"backoff_max_ms", {"--backoff-max", true}},
      {"kill_grace_ms", {"--kill-grace", true}},
      {"grace_ms", {"--grace", true}},
      {"max_output", {"--max-output", true}},
      {"on_interrupt", {"--on-interrupt", false}},
      {"key", {"--key", false}},
      {"shell", {"--shell", false}},
      {"pty", {"--pty", true}},
      {"halt_mode", {"--halt-mode", false}},
      {"priority", {"--priority", false}},
      {"locks", {"--lock", false}},
      {"job_locks", {"--job-lock", false}}};
  const auto had = nlohmann::json::parse(store::encode_settings(run.settings));
  const auto asked = nlohmann::json::parse(store::encode_settings(wanted));
  auto merged = had;
  Resumable out;
  std::string refused;
  for (const auto& [key, value] : asked.items()) {
    const auto flag = k_flags.find(key);
    if (flag == k_flags.end() || !given.contains(std::string(flag->second.name)) ||
        had.value(key, nlohmann::json()) == value) {
      continue;
    }
    const auto before = had.value(key, nlohmann::json());
    std::string& list = flag->second.safe ? out.applied : refused;
    list += (list.empty() ? "" : ", ") + std::string(flag->second.name);
    if (value.is_primitive()) {
      list += " " + setting_text(key, value) + " (was " + setting_text(key, before) + ")";
    }
    if (flag->second.safe) {
      merged[key] = value;
    }
  }
  if (!refused.empty()) {
    return util::Error{"a run named '" + name +
                       "' exists, and these settings differ from the ones it was made "
                       "with: " +
                       refused +
                       ". Only attempts, timeouts, graces, backoff and --max-output "
                       "change under a run: drop the change, use `muster retry " +
                       name + "` to run failed jobs again, or give another --name"};
  }
  if (!out.applied.empty()) {
    auto retuned = store::decode_settings(merged.dump());
    if (!retuned) {
      return retuned.error();
    }
    out.retuned = std::move(*retuned);
  }
  return out;
}

util::Result<void> retune_idle(store::Store& store, const store::RunRecord& run,
                               const core::RunSettings& settings) {
  if (holder_alive(run.holder)) {
    return util::Error{"run " + run.id + " is running (pid " +
                           std::to_string(run.holder.pid) +
                           "); its settings change only when no muster runs it",
                       util::ErrorKind::busy};
  }
  return store.retune(run.rid, settings);
}

} // namespace muster::app
