#pragma once
// What kind of terminal muster writes to: whether to redraw a live line, and
// whether to use colour (only on a tty, never with NO_COLOR or TERM=dumb).

#include <cstdio>
#include <string>
#include <string_view>

namespace muster::ui {

struct Terminal {
  bool smart = false; ///< a tty whose TERM is not "dumb": a live line can be redrawn
  bool color = false;
  int width = 80;
  int fd = -1;

  /// The width now: it follows a resize (SIGWINCH) without a handler.
  int columns() const;

  /// Looks at `stream`'s fd and the environment.
  static Terminal detect(FILE* stream);
  /// Wraps `text` in an SGR colour when colour is on ("32" green, "31" red...).
  std::string paint(std::string_view text, const char* sgr) const;
};

/// Whether `fd` is a pipe or a socket (the reader may share our terminal).
bool is_pipe(int fd);

} // namespace muster::ui
