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
      out += util::sh_quote(value);
    } else {
      append_value(out, seg, row, ctx);
    }
  }
  return out;
}

} // namespace

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
    t.m_words.push_back({Segment{PlaceholderKind::whole, "", 0}});
    t.m_appended_row = true;
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
