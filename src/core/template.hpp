#pragma once
// Command templates: `./post.sh --account {account} --video {2}` turned into
// one argv per job. Every value lands inside one argv entry; with --shell the
// words form a script for `sh -c` and every value is quoted for sh.

#include "core/slots.hpp"
#include "util/result.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace muster::core {

/// What a placeholder stands for.
enum class PlaceholderKind {
  literal,
  field_name,
  field_index,
  whole,
  job,
  slot,
  attempt,
  run,
  slot_value,  ///< what the slot owns: {port.NAME}, {port.NAME.last}, {slot_dir}
  position,    ///< {#}: the job's position in the run, from 1
  slot_from_1, ///< {%}: the slot, counted from 1 as GNU parallel does
};

/// GNU parallel's path forms of a value, on {} or a field: {.} {/} {//} {/.}.
enum class PathPart { all, no_extension, base, dir, base_no_extension };

/// Where a placeholder sits in a --shell script, which decides how its
/// value is quoted: bare ('v'), inside '...' (closed, quoted, reopened) or
/// inside "..." (with $ ` " \ escaped).
enum class ShellQuoting { bare, single, double_ };

/// A run of literal text or one placeholder.
struct Segment {
  PlaceholderKind kind = PlaceholderKind::literal;
  std::string text; ///< the literal text, or the field name
  size_t index = 0; ///< 0-based field index for field_index
  PathPart part = PathPart::all;
  ShellQuoting quoting = ShellQuoting::bare;
  std::string typed; ///< a placeholder as written, such as "{v}", for messages
};

/// `value` quoted for sh at `quoting`: it reaches the command as one literal
/// word (part of one), whatever bytes it holds.
std::string shell_quote_in(std::string_view value, ShellQuoting quoting);

/// `value` as `part` says: "d/f.txt" gives "d/f", "f.txt", "d" and "f".
std::string path_part(std::string_view value, PathPart part);

/// A row as the template sees it.
struct RowView {
  const std::vector<std::string>* names = nullptr; ///< field names (columns or JSON keys)
  const std::vector<std::string>* values = nullptr;
  std::string_view raw; ///< `{}`

  /// A stored row: one stored without its raw text is a single value that
  /// stands for itself.
  static RowView stored(const std::vector<std::string>& names,
                        const std::vector<std::string>& values, std::string_view raw) {
    return RowView{&names, &values,
                   raw.empty() && !values.empty() ? std::string_view(values[0]) : raw};
  }
};

/// The per-attempt values: `{job}`, `{slot}`, `{attempt}`, `{run}`, and what
/// the slot owns.
struct JobContext {
  std::string_view job_id;
  std::string_view run_id;
  int64_t slot = 0;
  int64_t attempt = 1;
  const std::map<std::string, std::string>* slot_values = nullptr;
  int64_t position = 0; ///< {#}
};

/// Whether the command runs through `sh -c`.
enum class Shell { no, yes };

/// A parsed template of one or more words.
class Template {
public:
  /// Parses command words. A word that has no placeholder stays literal; when
  /// no word has one, `{}` is appended as a last word, as GNU parallel does.
  /// `{{` and `}}` are literal braces. A brace pair with spaces inside
  /// (`awk '{print $1}'`) is literal text.
  static util::Result<Template> parse_command(const std::vector<std::string>& words,
                                              Shell shell);
  /// Parses a one-word template (such as --key) without appending anything.
  /// With Shell::yes the word is an sh script and its values are quoted.
  static util::Result<Template> parse_word(std::string_view word,
                                           Shell shell = Shell::no);

  /// Checks that every named field is one of `names` and every numbered one
  /// is within `field_count`. `what` names the template in errors ("the
  /// command", "--key").
  util::Result<void> check_fields(const std::vector<std::string>& names,
                                  size_t field_count, std::string_view what) const;
  /// Whether the template uses any field by name.
  bool uses_field_names() const;
  /// The first placeholder that needs a job (a field, {}, {job}, {attempt},
  /// {#}), as written; "" for none. Slot hooks run with no job.
  std::string job_placeholder() const;
  /// Whether it uses {slot_dir}.
  bool uses_slot_dir() const;
  /// Checks that every {port.NAME} names one of `ports`. ({slot_dir} is
  /// checked by the caller, which knows whether slots have directories.)
  util::Result<void> check_ports(const std::vector<PortSpec>& ports,
                                 std::string_view what) const;
  /// Whether any word uses a per-attempt placeholder ({slot}, {attempt}).
  bool uses_attempt_values() const;

  /// The argv for one attempt.
  std::vector<std::string> render_argv(const RowView& row, const JobContext& ctx) const;
  /// One word (for --key and display). For a shell template, the script.
  std::string render_word(const RowView& row, const JobContext& ctx) const;
  /// The template as the user wrote it, words joined by a space.
  const std::string& source() const { return m_source; }
  Shell shell() const { return m_shell; }
  /// Whether parse_command appended `{}`: the command had no placeholder.
  bool appended_row() const { return m_appended_row; }

private:
  std::vector<std::vector<Segment>> m_words;
  std::string m_source;
  Shell m_shell = Shell::no;
  bool m_appended_row = false;
};

/// Renders text that sees no input row (hooks, sidecar words, readiness URLs)
/// with the slot's values in `ctx`; with Shell::yes values are quoted for sh.
/// Nothing is appended. Text that does not parse is returned as written.
std::string render_without_row(std::string_view text, Shell shell, const JobContext& ctx);

/// Looks a field up by name, or "" with found=false.
std::string_view field_value(const RowView& row, std::string_view name, bool& found);

} // namespace muster::core
