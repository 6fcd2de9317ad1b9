#include "core/template.hpp"

#include "util/strings.hpp"

namespace muster::core {

namespace {

bool is_placeholder_char(char c) {
  return c != '{' && c != '}' && c != ' ' && c != '\t' && c != '\n' && c != '\r';
}

Segment classify(std::string_view name) {
  Segment s;
  if (name == "#") {
    s.kind = PlaceholderKind::position;
    return s;
  }
  if (name == "%") {
    s.kind = PlaceholderKind::slot_from_1;
    return s;
  }
  // A path form on {} or a field: {.} {/} {//} {/.}, {path/.}...
  static const std::pair<std::string_view, PathPart> k_parts[] = {
      {"/.", PathPart::base_no_extension},
      {"//", PathPart::dir},
      {"/", PathPart::base},
      {".", PathPart::no_extension}};
  if (name.substr(0, 5) != "port.") {
    for (const auto& [suffix, part] : k_parts) {
      if (name.size() >= suffix.size() &&
          name.substr(name.size() - suffix.size()) == suffix) {
        const std::string_view base = name.substr(0, name.size() - suffix.size());
        if (base.empty() || base.find_first_of("/.") == std::string_view::npos) {
          Segment inner = classify(base);
          if (inner.kind == PlaceholderKind::whole ||
              inner.kind == PlaceholderKind::field_index ||
              inner.kind == PlaceholderKind::field_name) {
            inner.part = part;
            return inner;
          }
        }
        break;
      }
    }
  }
  if (name.empty()) {
    s.kind = PlaceholderKind::whole;
  } else if (name == "job") {
    s.kind = PlaceholderKind::job;
  } else if (name == "slot") {
    s.kind = PlaceholderKind::slot;
  } else if (name == "attempt") {
    s.kind = PlaceholderKind::attempt;
  } else if (name == "run") {
    s.kind = PlaceholderKind::run;
  } else if (name.substr(0, 5) == "port." || name == "slot_dir") {
    s.kind = PlaceholderKind::slot_value;
    s.text = std::string(name);
  } else if (name.find_first_not_of("0123456789") == std::string_view::npos) {
    s.kind = PlaceholderKind::field_index;
    size_t n = 0;
    for (char c : name) {
      n = n * 10 + static_cast<size_t>(c - '0');
      if (n > 1'000'000) {
        break;
      }
    }
    s.index = n; // 1-based here; checked and converted below
  } else {
    s.kind = PlaceholderKind::field_name;
    s.text = std::string(name);
  }
  return s;
}

util::Result<std::vector<Segment>> parse_segments(std::string_view word) {
  std::vector<Segment> out;
  std::string literal;
  auto flush = [&] {
    if (!literal.empty()) {
      out.push_back(Segment{PlaceholderKind::literal, std::move(literal), 0});
      literal.clear();
    }
  };
  for (size_t i = 0; i < word.size();) {
    char c = word[i];
    if (c == '{' && i + 1 < word.size() && word[i + 1] == '{') {
      literal += '{';
      i += 2;
      continue;
    }
    if (c == '}' && i + 1 < word.size() && word[i + 1] == '}') {
      literal += '}';
      i += 2;
      continue;
    }
    // `${NAME}` is the shell's, not a placeholder.
    if (c == '{' && !(i > 0 && word[i - 1] == '$')) {
      size_t j = i + 1;
      while (j < word.size() && is_placeholder_char(word[j])) {
        ++j;
      }
      if (j < word.size() && word[j] == '}') {
        Segment s = classify(word.substr(i + 1, j - i - 1));
        if (s.kind == PlaceholderKind::field_index) {
          if (s.index == 0) {
            return util::Error{"placeholder {0} in '" + std::string(word) +
                               "': fields are numbered from {1}"};
          }
          s.index -= 1;
        }
        flush();
        s.typed = std::string(word.substr(i, j - i + 1));
        out.push_back(std::move(s));
        i = j + 1;
        continue;
      }
    }
    literal += c;
    ++i;
  }
  flush();
  return out;
}

// One character of a --shell script's literal text, or a placeholder.
struct ScriptItem {
  char c = 0;
  Segment* placeholder = nullptr;
};

// The sh contexts a script scan tracks: the ones a placeholder may sit in,
// and the ones where no quoting of a value is safe.
enum class Context { plain, single, dollar_single, dbl, backtick, subst, brace };

std::string_view context_name(Context c) {
  switch (c) {
  case Context::dollar_single:
    return "$'...'";
  case Context::backtick:
    return "`...`";
  case Context::brace:
    return "${...}";
  default:
    return "the script";
  }
}

util::Error unquotable(const Segment& seg, std::string_view where) {
  return util::Error{"the placeholder " + seg.typed + " is " + std::string(where) +
                     " in a shell script, where no quoting keeps its value from being "
                     "read as code; "
                     "set a variable with it first and use that, as in `v=" +
                     seg.typed + "; ... \"$v\"`"};
}

// Marks where each placeholder of a --shell script sits (Segment::quoting),
// scanning the words joined by spaces as sh reads them: quotes, escapes,
// $(...), `...`, ${...}, comments and here-documents. A placeholder whose
// value no quoting can keep literal is an error that shows the fix.
util::Result<void> mark_shell_quoting(std::vector<std::vector<Segment>>& words) {
  std::vector<ScriptItem> items;
  bool any = false;
  for (size_t w = 0; w < words.size(); ++w) {
    if (w > 0) {
      items.push_back({' ', nullptr});
    }
    for (auto& seg : words[w]) {
      if (seg.kind == PlaceholderKind::literal) {
        for (char c : seg.text) {
          items.push_back({c, nullptr});
        }
      } else {
        items.push_back({0, &seg});
        any = true;
      }
    }
  }
  if (!any) {
    return {};
  }
  const auto literal_at = [&](size_t i) -> char {
    return i < items.size() && !items[i].placeholder ? items[i].c : 0;
  };
  const auto placeholder_at = [&](size_t i) {
    return i < items.size() && items[i].placeholder != nullptr;
  };
  std::vector<Context> stack{Context::plain};
  bool heredoc = false;
  for (size_t i = 0; i < items.size(); ++i) {
    const Context top = stack.back();
    if (Segment* seg = items[i].placeholder) {
      if (heredoc) {
        return unquotable(*seg, "after a here-document (<<)");
      }
      switch (top) {
      case Context::plain:
      case Context::subst:
        seg->quoting = ShellQuoting::bare;
        break;
      case Context::single:
        seg->quoting = ShellQuoting::single;
        break;
      case Context::dbl:
        seg->quoting = ShellQuoting::double_;
        break;
      default:
        return unquotable(*seg, "inside " + std::string(context_name(top)));
      }
      if (i > 0 && literal_at(i - 1) == '$') {
        return unquotable(*seg, "right after a $");
      }
      continue;
    }
    const char c = items[i].c;
    const char next = literal_at(i + 1);
    if (c == '\\' && top != Context::single && top != Context::brace) {
      if (placeholder_at(i + 1)) {
        return unquotable(*items[i + 1].placeholder, "right after a backslash");
      }
      ++i;
      continue;
    }
    switch (top) {
    case Context::plain:
    case Context::subst:
      if (c == '\'') {
        stack.push_back(Context::single);
      } else if (c == '"') {
        stack.push_back(Context::dbl);
      } else if (c == '`') {
        stack.push_back(Context::backtick);
      } else if (c == '$' && (next == '(' || next == '{' || next == '\'')) {
        stack.push_back(next == '('   ? Context::subst
                        : next == '{' ? Context::brace
                                      : Context::dollar_single);
        ++i;
      } else if (c == '(') {
        stack.push_back(Context::subst);
      } else if (c == ')' && top == Context::subst) {
        stack.pop_back();
      } else if (c == '<' && next == '<') {
        heredoc = true;
      } else if (c == '#' &&
                 (i == 0 || std::string_view(" \t\n;&|()").find(literal_at(i - 1)) !=
                                std::string_view::npos)) {
        while (i + 1 < items.size() && literal_at(i + 1) != '\n') {
          ++i; // a comment, placeholders and all
        }
      }
      break;
    case Context::single:
      if (c == '\'') {
        stack.pop_back();
      }
      break;
    case Context::dollar_single:
      if (c == '\'') {
        stack.pop_back();
      }
      break;
    case Context::dbl:
      if (c == '"') {
        stack.pop_back();
      } else if (c == '`') {
        stack.push_back(Context::backtick);
      } else if (c == '$' && (next == '(' || next == '{')) {
        stack.push_back(next == '(' ? Context::subst : Context::brace);
        ++i;
      }
      break;
    case Context::backtick:
      if (c == '`') {
        stack.pop_back();
      }
      break;
    case Context::brace:
      if (c == '}') {
        stack.pop_back();
      }
      break;
    }
  }
  if (stack.size() != 1) {
    return util::Error{"the quotes or brackets of a shell script are not closed, so "
                       "where its placeholders sit cannot be told; close them"};
  }
  return {};
}

bool has_placeholder(const std::vector<Segment>& segs) {
  for (const auto& s : segs) {
    if (s.kind != PlaceholderKind::literal) {
      return true;
    }
  }
  return false;
}

void append_value(std::string& out, const Segment& seg, const RowView& row,
                  const JobContext& ctx);

// A row's value with its path form applied.
void append_part(std::string& out, const Segment& seg, const RowView& row,
                 const JobContext& ctx) {
  if (seg.part == PathPart::all) {
    append_value(out, seg, row, ctx);
    return;
  }
  Segment whole = seg;
  whole.part = PathPart::all;
  std::string value;
  append_value(value, whole, row, ctx);
  out += path_part(value, seg.part);
}

void append_value(std::string& out, const Segment& seg, const RowView& row,
                  const JobContext& ctx) {
  if (seg.part != PathPart::all) {
    append_part(out, seg, row, ctx);
    return;
  }
  switch (seg.kind) {
  case PlaceholderKind::literal:
    out += seg.text;
    break;
  case PlaceholderKind::field_name: {
    bool found = false;
    out += field_value(row, seg.text, found);
    break;
  }
  case PlaceholderKind::field_index:
    if (row.values && seg.index < row.values->size()) {
      out += (*row.values)[seg.index];
    }
    break;
  case PlaceholderKind::whole:
    out += row.raw;
    break;
  case PlaceholderKind::job:
    out += ctx.job_id;
    break;
  case PlaceholderKind::slot:
    out += std::to_string(ctx.slot);
    break;
  case PlaceholderKind::attempt:
    out += std::to_string(ctx.attempt);
    break;
  case PlaceholderKind::run:
    out += ctx.run_id;
    break;
  case PlaceholderKind::position:
    out += std::to_string(ctx.position);
    break;
  case PlaceholderKind::slot_from_1:
    out += std::to_string(ctx.slot + 1);
    break;
  case PlaceholderKind::slot_value:
    if (ctx.slot_values) {
      if (auto it = ctx.slot_values->find(seg.text); it != ctx.slot_values->end()) {
        out += it->second;
      }
    }
    break;
  }
}

std::string render_segments(const std::vector<Segment>& segs, const RowView& row,
                            const JobContext& ctx, Shell shell) {
  std::string out;
  for (const auto& seg : segs) {
    if (shell == Shell::yes && seg.kind != PlaceholderKind::literal) {
      std::string value;
      append_value(value, seg, row, ctx);
      out += shell_quote_in(value, seg.quoting);
    } else {
      append_value(out, seg, row, ctx);
    }
  }
  return out;
}

} // namespace

std::string shell_quote_in(std::string_view value, ShellQuoting quoting) {
  switch (quoting) {
  case ShellQuoting::bare:
    return util::sh_quote(value);
  case ShellQuoting::single:
    // '...'value'...': close the quote, add the value quoted, reopen.
    return "'" + util::sh_quote(value) + "'";
  case ShellQuoting::double_: {
    std::string out;
    out.reserve(value.size());
    for (char c : value) {
      if (c == '$' || c == '`' || c == '"' || c == '\\') {
        out += '\\';
      }
      out += c;
    }
    return out;
  }
  }
  return util::sh_quote(value);
}

std::string path_part(std::string_view value, PathPart part) {
  const size_t slash = value.rfind('/');
  const std::string_view base =
      slash == std::string_view::npos ? value : value.substr(slash + 1);
  auto without_extension = [](std::string_view v, size_t base_at) {
    const size_t dot = v.rfind('.');
    return dot != std::string_view::npos && dot > base_at ? v.substr(0, dot) : v;
  };
  switch (part) {
  case PathPart::all:
    return std::string(value);
  case PathPart::no_extension:
    return std::string(
        without_extension(value, slash == std::string_view::npos ? 0 : slash + 1));
  case PathPart::base:
    return std::string(base);
  case PathPart::dir:
    if (slash == std::string_view::npos) {
      return ".";
    }
    return slash == 0 ? "/" : std::string(value.substr(0, slash));
  case PathPart::base_no_extension:
    return std::string(without_extension(base, 0));
  }
  return std::string(value);
}

std::string render_without_row(std::string_view text, Shell shell,
                               const JobContext& ctx) {
  auto t = Template::parse_word(text, shell);
  if (!t) {
    return std::string(text);
  }
  const std::vector<std::string> none;
  return t->render_word(RowView{&none, &none, ""}, ctx);
}

std::string_view field_value(const RowView& row, std::string_view name, bool& found) {
  found = false;
  if (!row.names || !row.values) {
    return {};
  }
  for (size_t i = 0; i < row.names->size() && i < row.values->size(); ++i) {
    if ((*row.names)[i] == name) {
      found = true;
      return (*row.values)[i];
    }
  }
  return {};
}

util::Result<Template> Template::parse_command(const std::vector<std::string>& words,
                                               Shell shell) {
  if (words.empty()) {
    return util::Error{"no command given: expected a command after the options, like "
                       "`muster run -- echo {}`"};
  }
  Template t;
  t.m_shell = shell;
  t.m_source = util::join(words, " ");
  bool any = false;
  for (const auto& w : words) {
    auto segs = parse_segments(w);
    if (!segs) {
      return segs.error();
    }
    any = any || has_placeholder(*segs);
    t.m_words.push_back(std::move(*segs));
  }
  if (!any) {
    Segment whole{PlaceholderKind::whole, "", 0};
    whole.typed = "{}";
    t.m_words.push_back({std::move(whole)});
    t.m_appended_row = true;
  }
  if (shell == Shell::yes) {
    if (auto r = mark_shell_quoting(t.m_words); !r) {
      return r.error();
    }
  }
  return t;
}

util::Result<Template> Template::parse_word(std::string_view word, Shell shell) {
  auto segs = parse_segments(word);
  if (!segs) {
    return segs.error();
  }
  Template t;
  t.m_shell = shell;
  t.m_source = std::string(word);
  t.m_words.push_back(std::move(*segs));
  if (shell == Shell::yes) {
    if (auto r = mark_shell_quoting(t.m_words); !r) {
      return r.error();
    }
  }
  return t;
}

util::Result<void> Template::check_ports(const std::vector<PortSpec>& ports,
                                         std::string_view what) const {
  for (const auto& word : m_words) {
    for (const auto& seg : word) {
      if (seg.kind != PlaceholderKind::slot_value || seg.text == "slot_dir") {
        continue;
      }
      std::string_view name = std::string_view(seg.text).substr(5);
      if (name.size() > 5 && name.substr(name.size() - 5) == ".last") {
        name.remove_suffix(5);
      }
      bool known = false;
      std::string names;
      for (const auto& p : ports) {
        known = known || p.name == name;
        names += (names.empty() ? "" : ", ") + p.name;
      }
      if (!known) {
        return util::Error{"unknown placeholder {" + seg.text + "} in " +
                           std::string(what) +
                           (ports.empty() ? ": no ports are defined (see [slots.ports])"
                                          : ": the ports are " + names)};
      }
    }
  }
  return {};
}

bool Template::uses_slot_dir() const {
  for (const auto& word : m_words) {
    for (const auto& seg : word) {
      if (seg.kind == PlaceholderKind::slot_value && seg.text == "slot_dir") {
        return true;
      }
    }
  }
  return false;
}

bool Template::uses_field_names() const {
  for (const auto& word : m_words) {
    for (const auto& seg : word) {
      if (seg.kind == PlaceholderKind::field_name) {
        return true;
      }
    }
  }
  return false;
}

util::Result<void> Template::check_fields(const std::vector<std::string>& names,
                                          size_t field_count,
                                          std::string_view what) const {
  for (const auto& word : m_words) {
    for (const auto& seg : word) {
      if (seg.kind == PlaceholderKind::field_name) {
        bool known = false;
        for (const auto& n : names) {
          known = known || n == seg.text;
        }
        if (!known) {
          std::string list = names.empty() ? "unnamed (use {}, {1}, {2}...)"
                                           : "named " + util::join(names, ", ");
          return util::Error{
              "unknown placeholder {" + seg.text + "} in " + std::string(what) +
              ": the input's fields are " + list +
              "; the other placeholders are {}, {job}, {slot}, {attempt} and "
              "{run}"};
        }
      } else if (seg.kind == PlaceholderKind::field_index && seg.index >= field_count) {
        return util::Error{"placeholder {" + std::to_string(seg.index + 1) + "} in " +
                           std::string(what) + ": the input has only " +
                           std::to_string(field_count) + " field(s)"};
      }
    }
  }
  return {};
}

std::string Template::job_placeholder() const {
  for (const auto& word : m_words) {
    for (const auto& seg : word) {
      switch (seg.kind) {
      case PlaceholderKind::field_name:
      case PlaceholderKind::field_index:
      case PlaceholderKind::whole:
      case PlaceholderKind::job:
      case PlaceholderKind::attempt:
      case PlaceholderKind::position:
        return seg.typed;
      default:
        break;
      }
    }
  }
  return "";
}

bool Template::uses_attempt_values() const {
  for (const auto& word : m_words) {
    for (const auto& seg : word) {
      if (seg.kind == PlaceholderKind::slot || seg.kind == PlaceholderKind::attempt) {
        return true;
      }
    }
  }
  return false;
}

std::vector<std::string> Template::render_argv(const RowView& row,
                                               const JobContext& ctx) const {
  std::vector<std::string> argv;
  if (m_shell == Shell::yes) {
    argv.emplace_back("/bin/sh");
    argv.emplace_back("-c");
    argv.push_back(render_word(row, ctx));
    return argv;
  }
  argv.reserve(m_words.size());
  for (const auto& word : m_words) {
    argv.push_back(render_segments(word, row, ctx, Shell::no));
  }
  return argv;
}

std::string Template::render_word(const RowView& row, const JobContext& ctx) const {
  std::string out;
  for (size_t i = 0; i < m_words.size(); ++i) {
    if (i > 0) {
      out += ' ';
    }
    out += render_segments(m_words[i], row, ctx, m_shell);
  }
  return out;
}

} // namespace muster::core
