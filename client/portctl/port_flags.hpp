// Dev servers that ignore $PORT: the flags `portctl exec` appends so they
// listen on the allocated port. portctl(1) lists the same table (a unit test
// compares them).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace portctl {

/// One known dev server: `tool` (the executable's base name), optionally
/// followed by `subcommand`, and the flags to append, where "N" stands for
/// the port.
struct PortFlagRule {
  std::string_view tool;
  std::string_view subcommand;  ///< empty: the tool run with no subcommand
  std::string_view flags;       ///< space-separated; "N" is replaced by the port
};

/// The table of known dev servers, as portctl(1) EXEC PORT FLAGS lists it.
inline constexpr std::array kPortFlagRules = {
    PortFlagRule{"astro", "dev", "--port N"},
    PortFlagRule{"ng", "serve", "--port N"},
    PortFlagRule{"react-router", "dev", "--port N"},
    PortFlagRule{"storybook", "dev", "--port N"},
    PortFlagRule{"vite", "", "--port N --strictPort"},
    PortFlagRule{"vite", "dev", "--port N --strictPort"},
    PortFlagRule{"vite", "serve", "--port N --strictPort"},
    PortFlagRule{"webpack", "serve", "--port N"},
    PortFlagRule{"webpack-dev-server", "", "--port N"},
};

/// The launchers looked through to find the tool: `npx`, `bunx`, `pnpm exec`,
/// `yarn` and `yarn exec`.
inline constexpr std::string_view kPortFlagLaunchers = "npx, bunx, pnpm exec, yarn, yarn exec";

/// "vite", "ng serve": how a rule's command reads in the table.
std::string rule_command(const PortFlagRule& rule);

/// Where and what to insert into a command line so a known dev server
/// listens on a port.
struct PortFlagEdit {
  const PortFlagRule* rule = nullptr;  ///< null: nothing to insert
  std::size_t position = 0;            ///< index in argv to insert before
  std::vector<std::string> args;       ///< e.g. {"--port", "3042", "--strictPort"}
};

/// Matches `argv` (the command and its arguments, as given to exec) against
/// kPortFlagRules, looking through the launchers. Returns an edit with a null
/// rule when the tool is not known or its arguments already name a port
/// (`--port`, `--port=...`, `-p`). The flags go before a `--` that follows
/// the tool, else at the end.
PortFlagEdit port_flag_edit(std::span<const std::string> argv, std::uint16_t port);

/// The help text listing the table, one "  vite  --port N --strictPort" per row.
std::string port_flag_table_text();

}  // namespace portctl
