#include "ui/terminal.hpp"

#include <cstdlib>
#include <cstring>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace muster::ui {

Terminal Terminal::detect(FILE* stream) {
  Terminal t;
  const int fd = fileno(stream);
  const char* term = std::getenv("TERM");
  t.smart = isatty(fd) && !(term && std::strcmp(term, "dumb") == 0);
  const char* no_color = std::getenv("NO_COLOR");
  t.color = t.smart && !(no_color && *no_color);
  t.fd = fd;
  t.width = t.columns();
  return t;
}

int Terminal::columns() const {
  struct winsize ws {};
  if (smart && fd >= 0 && ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
    return ws.ws_col;
  }
  return width;
}

std::string Terminal::paint(std::string_view text, const char* sgr) const {
  if (!color) {
    return std::string(text);
  }
  return std::string("\x1b[") + sgr + "m" + std::string(text) + "\x1b[0m";
}

bool is_pipe(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode));
}

} // namespace muster::ui
