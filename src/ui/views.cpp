#include "ui/views.hpp"

#include "core/eta.hpp"
#include "util/strings.hpp"
#include "util/time.hpp"

namespace muster::ui {

using nlohmann::ordered_json;

namespace {

ordered_json optional(const std::optional<int64_t>& v) {
  return v ? ordered_json(*v) : ordered_json(nullptr);
}

ordered_json time_or_null(int64_t ms) {
  return ms > 0 ? ordered_json(util::format_timestamp(ms)) : ordered_json(nullptr);
}

/// Epoch milliseconds, for scripts that compute with times; null when unset.
ordered_json ms_or_null(int64_t ms) {
  return ms > 0 ? ordered_json(ms) : ordered_json(nullptr);
}

} // namespace

std::string command_text(const core::RunSettings& settings, size_t width) {
  const auto& words = settings.command;
  std::string text;
  if (settings.shell == core::Shell::yes && words.size() == 1) {
    text = words.front();
  } else {
    for (const auto& word : words) {
      // A placeholder is shown as typed: {word}, not '{word}'.
      std::string bare = word;
      std::erase_if(bare, [](char c) { return c == '{' || c == '}'; });
      const bool plain = !word.empty() && (bare.empty() || util::sh_quote(bare) == bare);
      text += (text.empty() ? "" : " ") + (plain ? word : util::sh_quote(word));
    }
  }
  return util::shorten_middle(text, width);
}

int64_t run_eta_ms(const store::RunRecord& run, const core::Counts& counts,
                   bool holder_alive, int64_t now_ms) {
  if (!holder_alive) {
    return -1;
  }
  core::EtaInput in;
  in.left = run.total - counts.finished();
  in.rate = run.rate;
  in.rate_interval_us = run.settings.limits.rate_interval_us;
  in.now_ms = now_ms;
  in.halted_until = run.resume_at;
  in.paused = run.state == core::RunState::paused;
  return core::eta_ms(in);
}

ordered_json run_json(const store::RunRecord& run, const core::Counts& counts,
                      bool holder_alive) {
  ordered_json c = ordered_json::object();
  for (size_t i = 0; i < 9; ++i) {
    c[std::string(core::to_string(static_cast<core::JobState>(i)))] = counts.by_state[i];
  }
  const double rate = holder_alive ? run.rate : 0;
  const int64_t eta = run_eta_ms(run, counts, holder_alive, util::now_ms());
  ordered_json j = {
      {"id", run.id},
      {"name", run.name.empty() ? ordered_json(nullptr) : ordered_json(run.name)},
      {"state", std::string(core::to_string(run.state))},
      {"total", run.total},
      {"counts", c},
      {"command", run.settings.command}, // the argv template, word by word
      {"slots", run.settings.slots},
      {"inputs", run.settings.inputs},
      {"rate", rate},
      {"eta_ms", eta >= 0 ? ordered_json(eta) : ordered_json(nullptr)},
      {"created_at", util::format_timestamp(run.created_at)},
      {"updated_at", util::format_timestamp(run.updated_at)},
      {"holder", holder_alive
                     ? ordered_json{{"pid", run.holder.pid}, {"host", run.holder.host}}
                     : ordered_json(nullptr)},
      {"agent_alive", holder_alive},
      {"resume_at", time_or_null(run.resume_at)},
      {"halt_reason",
       run.halt_reason.empty() ? ordered_json(nullptr) : ordered_json(run.halt_reason)},
      {"created_at_ms", run.created_at},
      {"updated_at_ms", run.updated_at},
      {"resume_at_ms", ms_or_null(run.resume_at)},
  };
  return j;
}

ordered_json job_json(const store::JobRecord& job, std::optional<bool> agent_alive) {
  const bool running = job.state == core::JobState::running;
  return ordered_json{
      {"id", job.id},
      {"seq", job.seq},
      {"key", job.key.empty() ? ordered_json(nullptr) : ordered_json(job.key)},
      {"state", std::string(core::to_string(job.state))},
      {"attempts", job.attempts},
      {"max_attempts", job.max_attempts},
      {"exit_code", optional(job.exit_code)},
      {"signal", optional(job.signal)},
      {"error", job.error.empty() ? ordered_json(nullptr) : ordered_json(job.error)},
      {"error_type",
       job.error_type.empty() ? ordered_json(nullptr) : ordered_json(job.error_type)},
      {"slot", optional(job.slot)},
      {"pid", optional(job.pid)},
      {"started_at", time_or_null(job.started_at)},
      {"finished_at", time_or_null(job.finished_at)},
      {"retry_at", time_or_null(job.retry_at)},
      {"priority", job.priority},
      {"locks", job.locks},
      {"reason", job.reason.empty() ? ordered_json(nullptr) : ordered_json(job.reason)},
      {"interrupts", job.interrupts},
      {"halts", job.halts},
      {"pgid", optional(job.pgid)},
      {"agent", job.agent > 0 ? ordered_json(job.agent) : ordered_json(nullptr)},
      {"host", job.host.empty() ? ordered_json(nullptr) : ordered_json(job.host)},
      // The worker that ran it last, as HOST:SLOT: slot numbers are unique
      // per host, so with many hosts the host tells slots apart.
      {"worker_id", job.host.empty() || !job.slot
                        ? ordered_json(nullptr)
                        : ordered_json(job.host + ":" + std::to_string(*job.slot))},
      {"agent_alive",
       running && agent_alive ? ordered_json(*agent_alive) : ordered_json(nullptr)},
      {"started_at_ms", ms_or_null(job.started_at)},
      {"finished_at_ms", ms_or_null(job.finished_at)},
      {"retry_at_ms", ms_or_null(job.retry_at)},
  };
}

std::string dump(const ordered_json& j, int indent) {
  return j.dump(indent, ' ', false, ordered_json::error_handler_t::replace);
}

std::string job_duration(const store::JobRecord& job, int64_t now_ms) {
  if (job.started_at <= 0) {
    return "-";
  }
  const int64_t end = job.state == core::JobState::running ? now_ms : job.finished_at;
  return end >= job.started_at ? util::format_duration(end - job.started_at) : "-";
}

} // namespace muster::ui
