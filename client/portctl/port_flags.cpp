// Matching a command line against the dev-server table (port_flags.hpp).
#include "portctl/port_flags.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace portctl {
namespace {

std::string_view base_name(std::string_view path) {
  auto slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// `npx vite@5` runs vite; a leading '@' is a scope, not a version.
std::string_view strip_version(std::string_view name) {
  auto at = name.find('@', 1);
  return at == std::string_view::npos ? name : name.substr(0, at);
}

// Index of the first non-option argument at or after `i`, skipping the values
// of the launcher's options that take one (`npx -p pkg vite`). argv.size()
// when there is none.
std::size_t skip_launcher_options(std::span<const std::string> argv, std::size_t i) {
  while (i < argv.size() && argv[i].starts_with('-')) {
    if (argv[i] == "--") return i + 1;
    if (argv[i] == "-p" || argv[i] == "--package") ++i;
    ++i;
  }
  return i;
}

// Index of the tool in argv once launchers are looked through; argv.size()
// when the command line names none.
std::size_t tool_index(std::span<const std::string> argv) {
  if (argv.empty()) return 0;
  std::string_view launcher = base_name(argv[0]);
  if (launcher == "npx" || launcher == "bunx") return skip_launcher_options(argv, 1);
  if (launcher == "pnpm") {
    return argv.size() > 1 && argv[1] == "exec" ? skip_launcher_options(argv, 2) : argv.size();
  }
  if (launcher == "yarn") {
    std::size_t i = skip_launcher_options(argv, 1);
    if (i < argv.size() && argv[i] == "exec") i = skip_launcher_options(argv, i + 1);
    return i;
  }
  return 0;
}

bool names_port(std::string_view arg) {
  return arg == "--port" || arg.starts_with("--port=") || arg == "-p";
}

}  // namespace

std::string rule_command(const PortFlagRule& rule) {
  return rule.subcommand.empty() ? std::string(rule.tool)
                                 : fmt::format("{} {}", rule.tool, rule.subcommand);
}

PortFlagEdit port_flag_edit(std::span<const std::string> argv, std::uint16_t port) {
  PortFlagEdit edit;
  std::size_t t = tool_index(argv);
  if (t >= argv.size()) return edit;
  std::string_view tool = strip_version(base_name(argv[t]));
  // The subcommand is the word after the tool; "" when options (or nothing) follow.
  std::string_view sub;
  if (t + 1 < argv.size() && !argv[t + 1].starts_with('-')) sub = argv[t + 1];
  auto rule =
      std::find_if(kPortFlagRules.begin(), kPortFlagRules.end(),
                   [&](const PortFlagRule& r) { return r.tool == tool && r.subcommand == sub; });
  if (rule == kPortFlagRules.end()) return edit;

  auto rest = argv.subspan(t + 1);
  auto end = std::find(rest.begin(), rest.end(), "--");
  if (std::any_of(rest.begin(), end, [](const std::string& a) { return names_port(a); })) {
    return edit;
  }
  edit.rule = &*rule;
  edit.position = t + 1 + static_cast<std::size_t>(end - rest.begin());
  std::string_view flags = rule->flags;
  while (!flags.empty()) {
    auto space = flags.find(' ');
    std::string_view flag = flags.substr(0, space);
    flags = space == std::string_view::npos ? std::string_view{} : flags.substr(space + 1);
    if (flag == "N") {
      edit.args.push_back(std::to_string(port));
    } else if (std::find(rest.begin(), end, flag) == end) {
      edit.args.emplace_back(flag);
    }
  }
  return edit;
}

std::string port_flag_table_text() {
  std::string out;
  for (const auto& rule : kPortFlagRules) {
    out += fmt::format("  {:<22} {}\n", rule_command(rule), rule.flags);
  }
  return out;
}

}  // namespace portctl
