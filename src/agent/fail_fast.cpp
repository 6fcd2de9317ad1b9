#include "agent/fail_fast.hpp"

#include "util/strings.hpp"

namespace muster::agent {

util::Result<HaltOnFailure> parse_halt_on_failure(std::string_view text) {
  HaltOnFailure h;
  h.text = std::string(text);
  if (text == "never" || text.empty()) {
    return h;
  }
  const size_t comma = text.find(',');
  const std::string_view when = text.substr(0, comma);
  const std::string_view what =
      comma == std::string_view::npos ? "" : text.substr(comma + 1);
  const util::Error bad{"expected now,fail=N, soon,fail=N, now,fail=P% or never (got '" +
                            std::string(text) + "')",
                        util::ErrorKind::bad_input};
  if ((when != "now" && when != "soon") || what.substr(0, 5) != "fail=") {
    return bad;
  }
  h.now = when == "now";
  std::string_view n = what.substr(5);
  const bool percent = !n.empty() && n.back() == '%';
  if (percent) {
    n.remove_suffix(1);
  }
  const auto v = util::parse_digits(n, 9);
  if (!v || *v < 1 || (percent && *v > 100)) {
    return bad;
  }
  (percent ? h.percent : h.count) = *v;
  return h;
}

} // namespace muster::agent
