#include "cli/exit_code.hpp"

#include <cstring>
#include <string_view>
#include <vector>

namespace muster::cli {

namespace {

struct CodeLine {
  ExitCode code;
  const char* text; ///< wrapped at 72 columns, continuation lines indented by 7
};

// What a run's agent ends with: run, resume, join.
const std::vector<CodeLine> k_run = {
    {ExitCode::ok, "every job succeeded"},
    {ExitCode::jobs_failed, "the run ended and some jobs failed (or it was cancelled)"},
    {ExitCode::usage, "bad flags, input or config, or no such run; nothing was changed"},
    {ExitCode::busy, "the run cannot go on now: another live muster holds it, a lock it\n"
                     "       needs is held, or a rule halted it (with --no-wait)"},
    {ExitCode::waiting,
     "every job left waits, for a limit's next window or for job locks\n"
     "       other runs hold (with --no-wait)"},
    {ExitCode::store,
     "the store could not be read or written: a full disk, a read-only or\n"
     "       locked store, a damaged file (fix the disk, not the flags)"},
    {ExitCode::internal, "an internal error: muster failed in a way no input explains"},
    {ExitCode::deadline,
     "--deadline passed: the running jobs were stopped as by a cancel, the\n"
     "       rest left pending; `muster resume RUN` continues it"},
    {ExitCode::interrupted,
     "interrupted by SIGINT/SIGTERM/SIGHUP; `muster resume RUN` continues it"},
    {ExitCode::output_closed,
     "its stdout was closed (as by `| head`), or the jobs' output could not be\n"
     "       written to stdout or stderr (a full disk): no new jobs were started,\n"
     "       the running ones finished, and `muster resume RUN` continues it"},
};

const CodeLine k_ok = {ExitCode::ok, "it did what it was asked"};
const CodeLine k_usage = {ExitCode::usage,
                          "bad flags, or no such run or job; nothing was changed"};
const CodeLine k_store = k_run[5];
const CodeLine k_internal = k_run[6];

// Commands that read the store or change it and return at once.
const std::vector<CodeLine> k_plain = {k_ok, k_usage, k_store, k_internal};

struct CommandCodes {
  const char* names; ///< space-separated
  std::vector<CodeLine> lines;
};

const std::vector<CommandCodes> k_commands = {
    {"run resume join", k_run},
    {"cancel",
     {k_ok,
      {ExitCode::jobs_failed, "you answered no at the prompt: nothing was cancelled"},
      {ExitCode::usage,
       "bad flags, no such run, a run that has ended, or no terminal to\n"
       "       ask on and no --force; nothing was changed"},
      k_store,
      k_internal}},
    {"pause scale add",
     {k_ok,
      {ExitCode::usage,
       "bad flags or input, no such run, or a run that has ended (or, for\n"
       "       scale, one with no live agent); nothing was changed"},
      k_store,
      k_internal}},
    {"stop-all",
     {{ExitCode::ok, "every live agent stopped (or there was none: it says so)"},
      k_usage,
      {ExitCode::busy, "an agent did not stop within its grace periods and 30s more"},
      k_store,
      k_internal}},
    {"validate show-config",
     {{ExitCode::ok, "the config, the command and every input row are valid"},
      {ExitCode::usage,
       "something is not: the message names the file, line and column, or\n"
       "       the flag, and what was expected"},
      k_internal}},
    {"logs",
     {k_ok,
      k_usage,
      k_store,
      k_internal,
      {ExitCode::interrupted, "interrupted while following (-f)"}}},
    {"check",
     {{ExitCode::ok, "every page of the store was read and it is sound"},
      {ExitCode::usage, "bad flags, or no store here"},
      {ExitCode::store,
       "the store is damaged (it lists what is wrong and says how to recover),\n"
       "       or it could not be read"},
      k_internal}},
    {"lock",
     {{ExitCode::ok, "every lock named is held by --holder now"},
      {ExitCode::usage, "bad flags or lock names; nothing was changed"},
      {ExitCode::busy,
       "another holds one of the locks (the message names it); none was taken"},
      k_store,
      k_internal}},
    {"unlock",
     {{ExitCode::ok, "--holder holds none of the locks named any more"},
      {ExitCode::usage, "bad flags or lock names; nothing was changed"},
      {ExitCode::busy,
       "another holds one of the locks (the message names it); none was freed"},
      k_store,
      k_internal}},
    {"copy",
     {{ExitCode::ok, "the run, its jobs, events and output are in the other store"},
      {ExitCode::usage,
       "bad flags, no such run, or the other store has a run of that id or\n"
       "       name; nothing was copied"},
      {ExitCode::busy, "a live agent runs it: pause it or let it stop first"},
      k_store,
      k_internal}},
    {"completions man __complete doctor", {k_ok, k_usage, k_internal}},
};

bool named(const char* names, std::string_view command) {
  std::string_view all(names);
  while (!all.empty()) {
    const size_t sp = all.find(' ');
    if (all.substr(0, sp) == command) {
      return true;
    }
    all = sp == std::string_view::npos ? std::string_view() : all.substr(sp + 1);
  }
  return false;
}

std::string render(const std::vector<CodeLine>& lines) {
  std::string s = "Exit codes:\n";
  for (const CodeLine& line : lines) {
    std::string code = std::to_string(to_int(line.code));
    code.resize(5, ' ');
    s += "  " + code + line.text + "\n";
  }
  return s;
}

} // namespace

std::string exit_codes_help(std::string_view command) {
  if (command.empty()) {
    std::vector<CodeLine> all = k_run;
    all[0].text = "every job succeeded (or the command did what it was asked)";
    all[1].text = "the run ended and some jobs failed (or it was cancelled, or a cancel\n"
                  "       was declined)";
    return render(all) +
           "\nA run whose only unfinished jobs are held by --on-interrupt hold ends "
           "with 1.\nEach command's --help lists the codes it can return.";
  }
  for (const CommandCodes& c : k_commands) {
    if (named(c.names, command)) {
      std::string s = render(c.lines);
      if (&c == &k_commands.front()) {
        s += "\nA run whose only unfinished jobs are held by --on-interrupt hold ends "
             "with 1.";
      }
      return s;
    }
  }
  return render(k_plain);
}

} // namespace muster::cli
