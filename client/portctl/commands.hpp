// The portctl subcommands: one file per command (cmd_<verb>.cpp), each
// exporting a setup function that declares its options on a CLI11
// subcommand and returns the function that runs it.
#pragma once

#include <array>
#include <functional>
#include <string_view>

#include "portctl/context.hpp"

namespace CLI {
class App;
}

namespace portctl {

/// Runs a parsed subcommand; returns the exit status.
using Runner = std::function<int(Context&)>;

/// One row of the command table.
struct CommandSpec {
  std::string_view name;
  std::string_view help;
  Runner (*setup)(CLI::App& cmd);
};

Runner setup_complete(CLI::App& cmd);
Runner setup_allocate(CLI::App& cmd);
Runner setup_check(CLI::App& cmd);
Runner setup_compose(CLI::App& cmd);
Runner setup_completion(CLI::App& cmd);
Runner setup_doctor(CLI::App& cmd);
Runner setup_env(CLI::App& cmd);
Runner setup_exec(CLI::App& cmd);
Runner setup_export(CLI::App& cmd);
Runner setup_free(CLI::App& cmd);
Runner setup_gc(CLI::App& cmd);
Runner setup_health(CLI::App& cmd);
Runner setup_import(CLI::App& cmd);
Runner setup_init(CLI::App& cmd);
Runner setup_list(CLI::App& cmd);
Runner setup_release(CLI::App& cmd);
Runner setup_scan(CLI::App& cmd);
Runner setup_stats(CLI::App& cmd);
Runner setup_status(CLI::App& cmd);
Runner setup_up(CLI::App& cmd);
Runner setup_version(CLI::App& cmd);
Runner setup_watch(CLI::App& cmd);
Runner setup_who(CLI::App& cmd);

/// Every subcommand, sorted by name (checked at compile time).
inline constexpr std::array kCommands = {
    CommandSpec{"__complete", "Words for shell completion (hidden; see portctl(1))",
                setup_complete},
    CommandSpec{"allocate", "Allocate a port for a service (idempotent)", setup_allocate},
    CommandSpec{"check", "Check whether a port is free (exit 0) or taken (exit 1)", setup_check},
    CommandSpec{"completion", "Print the completion script for bash, zsh or fish",
                setup_completion},
    CommandSpec{"compose", "Write the compose .env (project name, ports) and show ports: edits",
                setup_compose},
    CommandSpec{"doctor", "Check the setup (daemon, socket, directories, store, config)",
                setup_doctor},
    CommandSpec{"env", "Print or write NAME_PORT=N lines for this app/instance", setup_env},
    CommandSpec{"exec", "Run a command with PORT and NAME_PORT set", setup_exec},
    CommandSpec{"export", "Write all allocations as JSON", setup_export},
    CommandSpec{"free", "Stop your processes that hold a port (SIGTERM, then SIGKILL)", setup_free},
    CommandSpec{"gc", "Remove allocations of deleted worktrees, dead pids, expired leases",
                setup_gc},
    CommandSpec{"health", "Check that portd answers", setup_health},
    CommandSpec{"import", "Load allocations from an export file", setup_import},
    CommandSpec{"init", "Register the ports scan finds and write .ports.env", setup_init},
    CommandSpec{"list", "List allocations", setup_list},
    CommandSpec{"release", "Release allocations (by id or filter; never all)", setup_release},
    CommandSpec{"scan", "Report the host ports a project's files declare (changes nothing)",
                setup_scan},
    CommandSpec{"stats", "Show how full each pool is", setup_stats},
    CommandSpec{"status", "Show this app/instance's allocations and whether they listen",
                setup_status},
    CommandSpec{"up", "Allocate every service of the project manifest (.portd.toml)", setup_up},
    CommandSpec{"version", "Print the versions of portctl and portd", setup_version},
    CommandSpec{"watch", "Print allocation events as they happen", setup_watch},
    CommandSpec{"who", "Show the processes, users and allocation holding a port", setup_who},
};

constexpr bool commands_sorted() {
  for (std::size_t i = 1; i < kCommands.size(); ++i) {
    if (!(kCommands[i - 1].name < kCommands[i].name)) return false;
  }
  return true;
}
static_assert(commands_sorted(), "keep kCommands sorted by name");

}  // namespace portctl
