// libFuzzer target for one input reader, chosen at build time by
// MUSTER_FUZZ_FORMAT ("csv", "tsv", "jsonl", "json" or "lines"). Every input
// must give records or an error that names FILE:LINE:COLUMN and holds no raw
// control byte; anything else aborts.

#include "fuzz/checks.hpp"
#include "input/reader.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>

namespace {

void check_error(const std::string& message, const std::string& path) {
  if (!muster::fuzz::is_located(message, path) ||
      muster::fuzz::has_raw_control(message)) {
    std::fprintf(stderr, "not a located, printable error: %s\n", message.c_str());
    std::abort();
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace muster::input;
  static const Format format = *parse_format(MUSTER_FUZZ_FORMAT);
  char path[] = "/tmp/muster_fuzz_XXXXXX";
  const int fd = ::mkstemp(path);
  if (fd < 0 || ::write(fd, data, size) != static_cast<ssize_t>(size)) {
    std::abort();
  }
  ::close(fd);
  // Half the JSON inputs look for their rows at a path.
  const char* json_path = format == Format::json && size % 2 == 1 ? "jobs" : "";
  auto reader = open_reader(path, format, json_path);
  if (!reader) {
    check_error(reader.error().message, path);
  } else {
    Record rec;
    for (;;) {
      auto got = (*reader)->next(rec);
      if (!got) {
        check_error(got.error().message, path);
        break;
      }
      if (!*got) {
        break;
      }
    }
  }
  ::unlink(path);
  return 0;
}
