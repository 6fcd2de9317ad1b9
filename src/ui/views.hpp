#pragma once
// How runs and jobs look to scripts (--json) and people (tables).

#include "core/run.hpp"
#include "store/store.hpp"

#include <nlohmann/json.hpp>

namespace muster::ui {

/// A run as JSON: id, name, state, total, counts (every job state), command,
/// settings, holder, agent_alive, rate, eta_ms, created_at, updated_at.
nlohmann::ordered_json run_json(const store::RunRecord& run, const core::Counts& counts,
                                bool holder_alive);
/// The run's command template as `status`, `list` and messages show it: its
/// words shell-quoted as the failure headers show them (placeholders as
/// typed), but a --shell script
/// of one word as it is, and shortened in the middle past `width` columns.
std::string command_text(const core::RunSettings& settings, size_t width);
/// When a run should end, as its live agent last reported its rate; -1 when
/// that cannot be told (no live agent, paused, nothing measured yet).
int64_t run_eta_ms(const store::RunRecord& run, const core::Counts& counts,
                   bool holder_alive, int64_t now_ms);
/// A job as JSON (everything the store records). `agent_alive`: for a
/// running job, whether the agent that runs it is alive (null otherwise).
nlohmann::ordered_json job_json(const store::JobRecord& job,
                                std::optional<bool> agent_alive = std::nullopt);
/// JSON text; bytes that are not UTF-8 become U+FFFD instead of failing.
std::string dump(const nlohmann::ordered_json& j, int indent = -1);
/// "12s", or "-" when not started.
std::string job_duration(const store::JobRecord& job, int64_t now_ms);

} // namespace muster::ui
