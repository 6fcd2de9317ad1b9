#include "cli/shell.hpp"

#include <vector>

namespace muster::cli {

namespace {

/// The subcommands people use (not the hidden completion helper).
std::vector<const CLI::App*> visible_subcommands(const CLI::App& app) {
  std::vector<const CLI::App*> out;
  for (const CLI::App* sub :
       app.get_subcommands([](const CLI::App* s) { return !s->get_group().empty(); })) {
    out.push_back(sub);
  }
  return out;
}

/// Every flag of `sub`, as typed: "--jobs", "-j".
std::vector<std::string> flags_of(const CLI::App& sub) {
  std::vector<std::string> out;
  for (const CLI::Option* opt : sub.get_options()) {
    for (const auto& l : opt->get_lnames()) {
      out.push_back("--" + l);
    }
    for (const auto& s : opt->get_snames()) {
      out.push_back("-" + s);
    }
  }
  return out;
}

/// Whether the subcommand's first positional is a run, and the second a job.
bool takes_run(const CLI::App& sub) {
  for (const CLI::Option* opt : sub.get_options()) {
    if (opt->get_positional() && opt->get_name() == "run") {
      return true;
    }
  }
  return false;
}

bool takes_job(const CLI::App& sub) {
  for (const CLI::Option* opt : sub.get_options()) {
    if (opt->get_positional() && opt->get_name() == "job") {
      return true;
    }
  }
  return false;
}

std::string join_words(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) {
    out += (out.empty() ? "" : " ") + w;
  }
  return out;
}

std::string bash_script(const CLI::App& app) {
  std::vector<std::string> names;
  std::string cases;
  std::string run_subs, job_subs;
  for (const CLI::App* sub : visible_subcommands(app)) {
    names.push_back(sub->get_name());
    cases +=
        "    " + sub->get_name() + ") flags='" + join_words(flags_of(*sub)) + "' ;;\n";
    if (takes_run(*sub)) {
      run_subs += (run_subs.empty() ? "" : "|") + sub->get_name();
    }
    if (takes_job(*sub)) {
      job_subs += (job_subs.empty() ? "" : "|") + sub->get_name();
    }
  }
  names.push_back("help");
  std::string s = R"(# bash completion for muster; made by `muster completions bash`.
_muster() {
  local cur=${COMP_WORDS[COMP_CWORD]} sub='' i words=() store=()
  for ((i = 1; i < COMP_CWORD; i++)); do
    case ${COMP_WORDS[i]} in
      --store) store=(--store "${COMP_WORDS[i + 1]}"); ((i++)) ;;
      -*) ;;
      *) if [[ -z $sub ]]; then sub=${COMP_WORDS[i]}; else words+=("${COMP_WORDS[i]}"); fi ;;
    esac
  done
  if [[ -z $sub ]]; then
    if [[ $cur == -* ]]; then
      COMPREPLY=($(compgen -W '--store --help --version' -- "$cur"))
    else
      COMPREPLY=($(compgen -W ')" +
                  join_words(names) + R"(' -- "$cur"))
    fi
    return
  fi
  local flags=''
  case $sub in
)" + cases + R"(    help) COMPREPLY=($(compgen -W ')" +
                  join_words(names) + R"(' -- "$cur")); return ;;
  esac
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$flags --help" -- "$cur"))
    return
  fi
  case $sub in
)";
  if (!run_subs.empty()) {
    s += "    " + run_subs +
         ")\n      if [[ ${#words[@]} -eq 0 ]]; then\n"
         "        COMPREPLY=($(compgen -W \"$(muster \"${store[@]}\" __complete runs "
         "2>/dev/null)\" -- \"$cur\"))\n";
    if (!job_subs.empty()) {
      s += "      elif [[ ${#words[@]} -eq 1 ]] && [[ $sub == @(" + job_subs +
           ") ]]; then\n"
           "        COMPREPLY=($(compgen -W \"$(muster \"${store[@]}\" __complete jobs "
           "\"${words[0]}\" 2>/dev/null)\" -- \"$cur\"))\n";
    }
    s += "      fi ;;\n";
  }
  s += R"(    *) COMPREPLY=($(compgen -f -- "$cur")) ;;
  esac
}
complete -F _muster muster
)";
  return s;
}

std::string fish_script(const CLI::App& app) {
  std::string names;
  for (const CLI::App* sub : visible_subcommands(app)) {
    names += (names.empty() ? "" : " ") + sub->get_name();
  }
  std::string s = "# fish completion for muster; made by `muster completions fish`.\n"
                  "complete -c muster -f\n"
                  "complete -c muster -l store -r -d 'Store directory'\n";
  for (const CLI::App* sub : visible_subcommands(app)) {
    std::string desc = sub->get_description();
    for (auto& c : desc) {
      c = c == '\'' ? ' ' : c;
    }
    s += "complete -c muster -n 'not __fish_seen_subcommand_from " + names + "' -a " +
         sub->get_name() + " -d '" + desc + "'\n";
    for (const CLI::Option* opt : sub->get_options()) {
      if (opt->get_lnames().empty()) {
        continue;
      }
      s += "complete -c muster -n '__fish_seen_subcommand_from " + sub->get_name() +
           "' -l " + opt->get_lnames().front();
      if (!opt->get_snames().empty()) {
        s += " -s " + opt->get_snames().front();
      }
      s += opt->get_expected_min() > 0 ? " -r\n" : "\n";
    }
    if (takes_run(*sub)) {
      s += "complete -c muster -n '__fish_seen_subcommand_from " + sub->get_name() +
           "' -a '(muster __complete runs 2>/dev/null)'\n";
    }
  }
  return s;
}

/// Escapes text for roff: backslashes, and a leading dot or quote.
std::string roff(std::string text) {
  std::string out;
  for (char c : text) {
    out += c == '\\'  ? std::string("\\e")
           : c == '-' ? std::string("\\-")
                      : std::string(1, c);
  }
  std::string lines;
  size_t start = 0;
  while (start <= out.size()) {
    size_t nl = out.find('\n', start);
    std::string line =
        out.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
    if (!line.empty() && (line[0] == '.' || line[0] == '\'')) {
      line = "\\&" + line;
    }
    lines += line;
    if (nl == std::string::npos) {
      break;
    }
    lines += '\n';
    start = nl + 1;
  }
  return lines;
}

} // namespace

std::string completion_script(const CLI::App& app, const std::string& shell) {
  if (shell == "fish") {
    return fish_script(app);
  }
  if (shell == "zsh") {
    return "# zsh completion for muster; made by `muster completions zsh`.\n"
           "autoload -U +X bashcompinit && bashcompinit\n" +
           bash_script(app);
  }
  return bash_script(app);
}

std::string man_page(const CLI::App& app, const std::string& exit_codes) {
  std::string s =
      ".TH MUSTER 1 \"\" \"muster\" \"User Commands\"\n"
      ".SH NAME\nmuster \\- run batches of jobs in parallel slots, durably\n"
      ".SH SYNOPSIS\n.B muster\n[\\fB\\-\\-store\\fR \\fIDIR\\fR] \\fICOMMAND\\fR "
      "[\\fIOPTIONS\\fR]\n.br\n.B muster run\n[\\fIOPTIONS\\fR] [\\fB\\-\\-\\fR] "
      "\\fICOMMAND\\fR [\\fIARG\\fR...] [\\fB:::\\fR \\fIVALUES\\fR...]\n"
      ".SH DESCRIPTION\n" +
      roff(app.get_description()) + "\n.SH COMMANDS\n";
  for (const CLI::App* sub : visible_subcommands(app)) {
    s += ".SS muster " + roff(sub->get_name()) + "\n" + roff(sub->get_description()) +
         "\n";
    for (const CLI::Option* opt : sub->get_options()) {
      if (opt->get_lnames().empty() && opt->get_snames().empty()) {
        if (opt->get_positional()) {
          s += ".TP\n.I " + roff(opt->get_name()) + "\n" + roff(opt->get_description()) +
               "\n";
        }
        continue;
      }
      std::string names;
      for (const auto& sn : opt->get_snames()) {
        names += (names.empty() ? "" : ", ") + std::string("\\fB\\-") + roff(sn) + "\\fR";
      }
      for (const auto& ln : opt->get_lnames()) {
        names +=
            (names.empty() ? "" : ", ") + std::string("\\fB\\-\\-") + roff(ln) + "\\fR";
      }
      if (opt->get_expected_min() > 0) {
        names += " \\fI" + roff(opt->get_type_name()) + "\\fR";
      }
      s += ".TP\n" + names + "\n" + roff(opt->get_description()) + "\n";
    }
  }
  s += ".SH EXIT STATUS\n.nf\n" + roff(exit_codes) + "\n.fi\n";
  s += ".SH ENVIRONMENT\n.TP\n.B MUSTER_STORE\nThe store directory when "
       "\\fB\\-\\-store\\fR is not given (default: the nearest \\fI.muster\\fR "
       "with a store, here or in a directory above, else \\fI./.muster\\fR).\n"
       ".TP\n.B MUSTER_CEILING_DIRS\nColon-separated absolute directories that the "
       "search for \\fI.muster\\fR does not enter, nor any above them.\n"
       ".TP\n.B NO_COLOR\nNo colour, even on a terminal.\n";
  s += ".SH SEE ALSO\nxargs(1), parallel(1)\n";
  return s;
}

} // namespace muster::cli
