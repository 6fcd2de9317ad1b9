// libFuzzer target for the template parser: the input's lines are the words
// of a command. Parsing, checking and rendering must never crash.

#include "core/template.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace muster::core;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> words;
  for (size_t start = 0; start <= text.size();) {
    size_t nl = text.find('\n', start);
    nl = nl == std::string_view::npos ? text.size() : nl;
    words.emplace_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  const Shell shell = size % 2 == 1 ? Shell::yes : Shell::no;
  auto command = Template::parse_command(words, shell);
  auto word = Template::parse_word(text, shell);
  const std::vector<std::string> names{"a", "name", "path"};
  const std::vector<std::string> values{"x y", "$(touch pwned)", "dir/file.tar.gz"};
  const RowView row{&names, &values, "x y,$(touch pwned),dir/file.tar.gz"};
  const JobContext ctx{"7", "abc123", 0, 1};
  for (auto* t : {command ? &*command : nullptr, word ? &*word : nullptr}) {
    if (t != nullptr && t->check_fields(names, names.size(), "fuzz")) {
      (void)t->render_argv(row, ctx);
      (void)t->render_word(row, ctx);
    }
  }
  (void)render_without_row(text, shell, ctx);
  return 0;
}
