// portctl __complete WHAT [VERB]: words for the shell completion scripts
// (portctl(1), "SHELL COMPLETION"), one per line. Hidden from --help.
//
// Verbs and options come from the command table itself, so a new verb or
// option completes without touching the scripts. Names come from the daemon
// only if it already runs: a completion never starts it, and gives up after
// kDaemonTimeout so that a hung daemon cannot freeze the shell. Exit status
// is 0 even when the daemon is absent (nothing to complete is not an error).
#include <chrono>
#include <memory>
#include <set>
#include <string>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "portctl/commands.hpp"

namespace portctl {
namespace {

constexpr std::chrono::milliseconds kDaemonTimeout{100};

// Adds the long option names ("--service") of `app` to `out`.
void add_options(const CLI::App& app, std::set<std::string>& out) {
  for (const CLI::Option* opt : app.get_options()) {
    for (const std::string& name : opt->get_lnames()) out.insert("--" + name);
  }
}

int complete_verbs() {
  for (const auto& spec : kCommands) {
    if (!spec.name.starts_with("__")) fmt::print("{}\n", spec.name);
  }
  return 0;
}

// Options of one verb as the command table declares them, plus the global
// ones `parent` carries; unknown verbs print only the global ones.
int complete_options(const CLI::App& parent, const std::string& verb) {
  std::set<std::string> names;  // sorted, each once (--help is on both)
  CLI::App scratch;
  for (const auto& spec : kCommands) {
    if (spec.name != verb) continue;
    CLI::App* sub = scratch.add_subcommand(std::string(spec.name));
    spec.setup(*sub);
    add_options(*sub, names);
  }
  add_options(parent, names);
  for (const auto& n : names) fmt::print("{}\n", n);
  return 0;
}

int complete_from_daemon(Context& ctx, const std::string& what) {
  auto options = ctx.client_options();
  options.autostart = false;
  options.connect_timeout = kDaemonTimeout;
  options.request_timeout = kDaemonTimeout;
  std::set<std::string> words;  // sorted, each once
  try {
    portd::client::Client client(options);
    if (what == "pools") {
      for (const auto& pool : client.stats().pools) words.insert(pool.name);
    } else {
      for (const auto& a : client.list()) {
        if (what == "services") words.insert(a.service);
        if (what == "apps") words.insert(a.app);
        if (what == "instances") words.insert(a.instance);
        if (what == "ports") words.insert(std::to_string(a.port));
      }
    }
  } catch (const portd::client::Error&) {
    return 0;  // no daemon running (or too slow): nothing to offer
  }
  for (const auto& w : words) fmt::print("{}\n", w);
  return 0;
}

}  // namespace

Runner setup_complete(CLI::App& cmd) {
  cmd.group("");  // hidden from --help
  auto what = std::make_shared<std::string>();
  auto verb = std::make_shared<std::string>();
  cmd.add_option("what", *what, "verbs, options, services, apps, instances, pools or ports")
      ->required()
      ->check(
          CLI::IsMember({"verbs", "options", "services", "apps", "instances", "pools", "ports"}));
  cmd.add_option("verb", *verb, "the verb whose options to list (with `options`)");
  const CLI::App* parent = cmd.get_parent();
  return [what, verb, parent](Context& ctx) {
    if (*what == "verbs") return complete_verbs();
    if (*what == "options") return complete_options(*parent, *verb);
    return complete_from_daemon(ctx, *what);
  };
}

}  // namespace portctl
