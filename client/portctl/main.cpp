// portctl: the command-line client of portd. See portctl(1).
//
// Exit status (portctl(1) "EXIT STATUS"): 0 success (check: port
// available); 1 failure: a value that fails validation (--port 70000), the
// port is taken, a daemon error (by model/error_list.hpp), an unreachable or
// busy daemon; 2 usage errors: an unknown command or option, a missing
// option or value, a command that needs --app/--instance run outside a git
// repository.
#include <cstdio>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "config.h"
#include "model/error.hpp"
#include "portctl/commands.hpp"
#include "portctl/context.hpp"
#include "portctl/output.hpp"

namespace {

// The subcommand named on the command line: the first argument that is not
// one of `app`'s options or the value of one. Null when there is none, when
// it is not a command name (CLI11 then reports it, listing every command)
// or when help or the version is asked for before it.
const portctl::CommandSpec* find_command(const CLI::App& app, int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--") return nullptr;
    if (arg.starts_with('-')) {
      const CLI::Option* opt = app.get_option_no_throw(std::string(arg));
      if (opt && (opt == app.get_help_ptr() || opt == app.get_version_ptr())) return nullptr;
      // `--socket PATH`: the value may look like a command name.
      if (opt && opt->get_items_expected_max() > 0) ++i;
      continue;
    }
    for (const auto& spec : portctl::kCommands) {
      if (spec.name == arg) return &spec;
    }
    return nullptr;
  }
  return nullptr;
}

// A value given on the command line that CLI11 could not accept: out of
// range or not a number. That is a validation failure (exit 1), unlike a
// usage error; the message names the option and the rule.
int validation_failure(const CLI::ParseError& e) {
  std::fflush(stdout);
  fmt::print(stderr, "portctl: {}\n", e.what());
  return 1;
}

int exit_status(const portd::client::Error& e) {
  // Codes the daemon sends map through the one error list; the client's own
  // (unavailable, bad_response) and unknown ones are plain failures.
  auto code = portd::parse_error_code(e.code_name());
  return code ? portd::exit_status(*code) : 1;
}

int run_portctl(int argc, char** argv) {
  portctl::Context ctx;
  CLI::App app{"portctl - ask portd, the per-user port registry, for TCP ports", "portctl"};
  app.require_subcommand(1);
  // Global flags are accepted after the subcommand too (`portctl list --json`).
  app.fallthrough();
  app.set_version_flag("--version", "portctl " PORTD_VERSION);
  app.add_option("--socket", ctx.flags.socket,
                 "Daemon socket (default: $PORTD_SOCKET, else $XDG_RUNTIME_DIR/portd/portd.sock)");
  app.add_flag("--no-autostart", ctx.flags.no_autostart,
               "Do not start portd when it is not running (also PORTD_NO_AUTOSTART=1)");
  app.add_flag("--json", ctx.flags.json, "Machine-readable JSON output");
  app.add_flag("--no-color", ctx.flags.no_color, "No ANSI colours (also NO_COLOR)");
  app.footer("See portctl(1) for worktree detection, JSON schema and examples.");

  // Declaring all fourteen subcommands costs more than the rest of a
  // `portctl check` together; when the command is known, declare only it.
  std::vector<CLI::App*> subcommands;
  std::vector<portctl::Runner> runners;
  const portctl::CommandSpec* only = find_command(app, argc, argv);
  for (const auto& spec : portctl::kCommands) {
    if (only && only != &spec) continue;
    CLI::App* sub = app.add_subcommand(std::string(spec.name), std::string(spec.help));
    runners.push_back(spec.setup(*sub));
    subcommands.push_back(sub);
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ValidationError& e) {
    return validation_failure(e);
  } catch (const CLI::ConversionError& e) {
    return validation_failure(e);
  } catch (const CLI::ParseError& e) {
    // CLI11's own exit codes are >= 100; help and --version are "errors" with code 0.
    return app.exit(e) == 0 ? 0 : 2;
  }

  try {
    for (std::size_t i = 0; i < subcommands.size(); ++i) {
      if (subcommands[i]->parsed()) return runners[i](ctx);
    }
    return 2;  // unreachable: require_subcommand(1)
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  } catch (const portctl::UsageError& e) {
    std::fflush(stdout);
    fmt::print(stderr, "portctl: {}\n", e.what());
    return 2;
  } catch (const portd::client::Error& e) {
    std::fflush(stdout);
    fmt::print(stderr, "portctl: {}\n", portctl::describe(e));
    return exit_status(e);
  } catch (const std::exception& e) {
    std::fflush(stdout);
    fmt::print(stderr, "portctl: {}\n", e.what());
    return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run_portctl(argc, argv);
  } catch (const std::exception& e) {
    // Only reached if setting up the command line itself fails (out of memory).
    std::fputs("portctl: ", stderr);
    std::fputs(e.what(), stderr);
    std::fputs("\n", stderr);
  } catch (...) {
    std::fputs("portctl: unknown error\n", stderr);
  }
  return 1;
}
