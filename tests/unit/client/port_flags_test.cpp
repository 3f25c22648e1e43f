// portctl exec's dev-server table: matching command lines, and the copy of
// the table in portctl(1).
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "portctl/port_flags.hpp"

using namespace portctl;

namespace {

// The command line after port_flag_edit's insertion, joined by spaces.
std::string edited(std::vector<std::string> argv, std::uint16_t port = 3042) {
  PortFlagEdit edit = port_flag_edit(argv, port);
  if (edit.rule != nullptr) {
    argv.insert(argv.begin() + static_cast<std::ptrdiff_t>(edit.position), edit.args.begin(),
                edit.args.end());
  }
  std::string out;
  for (const auto& a : argv) out += (out.empty() ? "" : " ") + a;
  return out;
}

TEST(PortFlags, DirectTools) {
  EXPECT_EQ(edited({"vite"}), "vite --port 3042 --strictPort");
  EXPECT_EQ(edited({"vite", "--host"}), "vite --host --port 3042 --strictPort");
  EXPECT_EQ(edited({"vite", "dev"}), "vite dev --port 3042 --strictPort");
  EXPECT_EQ(edited({"./node_modules/.bin/vite"}),
            "./node_modules/.bin/vite --port 3042 --strictPort");
  EXPECT_EQ(edited({"ng", "serve"}), "ng serve --port 3042");
  EXPECT_EQ(edited({"astro", "dev"}), "astro dev --port 3042");
  EXPECT_EQ(edited({"react-router", "dev"}), "react-router dev --port 3042");
  EXPECT_EQ(edited({"storybook", "dev", "--ci"}), "storybook dev --ci --port 3042");
  EXPECT_EQ(edited({"webpack-dev-server"}), "webpack-dev-server --port 3042");
  EXPECT_EQ(edited({"webpack", "serve"}), "webpack serve --port 3042");
}

TEST(PortFlags, ThroughLaunchers) {
  EXPECT_EQ(edited({"npx", "vite"}), "npx vite --port 3042 --strictPort");
  EXPECT_EQ(edited({"npx", "-y", "vite@5"}), "npx -y vite@5 --port 3042 --strictPort");
  EXPECT_EQ(edited({"npx", "-p", "@angular/cli", "ng", "serve"}),
            "npx -p @angular/cli ng serve --port 3042");
  EXPECT_EQ(edited({"bunx", "--bun", "astro", "dev"}), "bunx --bun astro dev --port 3042");
  EXPECT_EQ(edited({"pnpm", "exec", "storybook", "dev"}), "pnpm exec storybook dev --port 3042");
  EXPECT_EQ(edited({"yarn", "vite"}), "yarn vite --port 3042 --strictPort");
  EXPECT_EQ(edited({"yarn", "exec", "ng", "serve"}), "yarn exec ng serve --port 3042");
  EXPECT_EQ(edited({"/usr/bin/npx", "webpack-dev-server"}),
            "/usr/bin/npx webpack-dev-server --port 3042");
}

TEST(PortFlags, GoesBeforeDoubleDash) {
  EXPECT_EQ(edited({"vite", "--", "extra"}), "vite --port 3042 --strictPort -- extra");
}

TEST(PortFlags, LeavesCommandsThatNameAPort) {
  EXPECT_EQ(edited({"vite", "--port", "5173"}), "vite --port 5173");
  EXPECT_EQ(edited({"npx", "vite", "--port=5173"}), "npx vite --port=5173");
  EXPECT_EQ(edited({"ng", "serve", "-p", "4200"}), "ng serve -p 4200");
  // npx's own -p is a package, not a port.
  EXPECT_EQ(edited({"npx", "-p", "vite", "vite"}), "npx -p vite vite --port 3042 --strictPort");
  // A flag the user already gave is not repeated.
  EXPECT_EQ(edited({"vite", "--strictPort"}), "vite --strictPort --port 3042");
}

TEST(PortFlags, LeavesUnknownCommands) {
  EXPECT_EQ(port_flag_edit(std::vector<std::string>{"node", "server.js"}, 1).rule, nullptr);
  EXPECT_EQ(port_flag_edit(std::vector<std::string>{"vite", "build"}, 1).rule, nullptr);
  EXPECT_EQ(port_flag_edit(std::vector<std::string>{"ng", "build"}, 1).rule, nullptr);
  EXPECT_EQ(port_flag_edit(std::vector<std::string>{"astro"}, 1).rule, nullptr);
  EXPECT_EQ(port_flag_edit(std::vector<std::string>{"pnpm", "dev"}, 1).rule, nullptr);
  EXPECT_EQ(port_flag_edit(std::vector<std::string>{"npx"}, 1).rule, nullptr);
  EXPECT_EQ(port_flag_edit(std::vector<std::string>{}, 1).rule, nullptr);
}

std::string trim(std::string s) {
  auto b = s.find_first_not_of(" \t");
  auto e = s.find_last_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// The rows (command, flags) of the table in portctl(1)'s EXEC PORT FLAGS
// section: `|` starts a row, `:` the next cell, after an alignment character.
std::set<std::pair<std::string, std::string>> man_rows() {
  const char* path = std::getenv("PORTCTL_MAN_PAGE");
  if (path == nullptr) return {};
  std::ifstream in(path);
  std::set<std::pair<std::string, std::string>> rows;
  std::string line;
  bool in_section = false;
  std::string command;
  while (std::getline(in, line)) {
    if (line.starts_with("# ")) in_section = line == "# EXEC PORT FLAGS";
    if (!in_section || line.size() < 2) continue;
    if (line[0] == '|') {
      command = trim(line.substr(2));
    } else if (line[0] == ':' && !command.empty()) {
      rows.emplace(command, trim(line.substr(2)));
      command.clear();
    }
  }
  return rows;
}

TEST(PortFlags, ManPageListsTheTable) {
  if (std::getenv("PORTCTL_MAN_PAGE") == nullptr) GTEST_SKIP() << "PORTCTL_MAN_PAGE not set";
  auto rows = man_rows();
  std::set<std::pair<std::string, std::string>> table;
  for (const auto& rule : kPortFlagRules) {
    table.emplace(rule_command(rule), std::string(rule.flags));
  }
  EXPECT_EQ(rows, table);
}

}  // namespace
