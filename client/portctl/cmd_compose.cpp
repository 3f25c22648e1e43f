// portctl compose: give a compose stack this worktree's ports and its own
// project name through the .env beside the compose file, and show (or, with
// --apply --yes, make) the ports: edits that read them.
#include <sys/stat.h>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>

#include "portctl/commands.hpp"
#include "portctl/env_file.hpp"
#include "portctl/output.hpp"
#include "project/scan.hpp"

namespace portctl {
namespace {

namespace fs = std::filesystem;
namespace project = portd::project;

struct ComposeOptions {
  std::string app;
  std::string instance;
  std::string file;
  bool apply = false;
  bool yes = false;
};

std::string find_compose_file() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(".", ec)) {
    std::string name = e.path().filename().string();
    if (project::is_compose_file_name(name)) names.push_back(name);
  }
  if (names.empty()) throw UsageError("no compose file here: pass -f FILE");
  std::sort(names.begin(), names.end());
  return names.front();
}

/// Replaces the literal host port `port` of a short-syntax entry on `line`
/// ("5432:5432", "127.0.0.1:5432:5432") by ${VAR:-port}; false when the
/// line holds no such literal (long syntax, ranges, already a variable).
bool use_variable(std::string& line, std::uint16_t port, const std::string& var) {
  std::string literal = fmt::format("{}:", port);
  for (auto at = line.find(literal); at != std::string::npos; at = line.find(literal, at + 1)) {
    char before = at == 0 ? ' ' : line[at - 1];
    if (before == '"' || before == '\'' || before == ' ' || before == ':' || before == '[' ||
        before == ',') {
      line.replace(at, literal.size() - 1, fmt::format("${{{}:-{}}}", var, port));
      return true;
    }
  }
  return false;
}

/// Replaces the literal `published: <port>` (quoted or not, block or flow
/// style) of the long-syntax entry that starts at lines[first] by
/// `published: "${VAR:-port}"` (the compose specification's interpolation
/// makes it a string, which `published` accepts). The entry ends at the
/// first non-blank line indented less than its keys. Returns the index of
/// the changed line, its old text in `before`, or std::nullopt when there
/// is no such literal.
std::optional<std::size_t> use_variable_long(std::vector<std::string>& lines, std::size_t first,
                                             std::uint16_t port, const std::string& var,
                                             std::string& before) {
  auto key_column = [](const std::string& line) {
    return line.find_first_not_of(" -");  // past the sequence dash
  };
  const std::size_t column = key_column(lines[first]);
  const std::string literal = std::to_string(port);
  for (std::size_t i = first; i < lines.size(); ++i) {
    std::string& line = lines[i];
    if (i > first && line.find_first_not_of(" \t\r") != std::string::npos &&
        line.find_first_not_of(' ') < column) {
      break;
    }
    auto key = line.find("published:");
    if (key == std::string::npos) continue;
    std::size_t at = line.find_first_not_of(' ', key + 10);
    if (at == std::string::npos) continue;
    std::size_t end = at;
    char quote = line[at] == '"' || line[at] == '\'' ? line[at] : '\0';
    if (quote) ++end;
    if (line.compare(end, literal.size(), literal) != 0) continue;
    end += literal.size();
    if (quote) {
      if (end >= line.size() || line[end] != quote) continue;
      ++end;
    } else if (end < line.size() && std::isdigit(static_cast<unsigned char>(line[end]))) {
      continue;  // 54321 is not 5432
    }
    before = line;
    line.replace(at, end - at, fmt::format("\"${{{}:-{}}}\"", var, port));
    return i;
  }
  return std::nullopt;
}

std::string trim(std::string_view s) {
  auto b = s.find_first_not_of(" \t-");
  auto e = s.find_last_not_of(" \t\r");
  return b == std::string_view::npos ? std::string() : std::string(s.substr(b, e - b + 1));
}

int run_compose(Context& ctx, const ComposeOptions& o) {
  Identity id = ctx.identity(o.app, o.instance);
  std::string file = o.file.empty() ? find_compose_file() : o.file;
  // Refuse before writing anything.
  if (o.apply && !o.yes) throw UsageError("--apply rewrites " + file + ": add --yes to confirm");
  project::ScanOptions options;
  options.compose_files = {file};
  auto result = project::scan_project(options, project::process_environment());
  for (const auto& e : result.errors) {
    throw std::runtime_error(fmt::format("failed to read '{}'{}: {}", e.file,
                                         e.line ? fmt::format(" line {}", e.line) : "", e.message));
  }
  std::map<std::string, std::uint16_t> allocated;
  for (const auto& a : ctx.instance_allocations(o.app, o.instance, false)) {
    allocated[a.service] = a.port;
  }

  std::string text = read_file_or_throw(file);
  std::vector<std::string> lines;
  for (std::size_t pos = 0; pos <= text.size();) {
    auto nl = text.find('\n', pos);
    lines.push_back(text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos));
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }

  std::map<std::string, std::string> ports;  // NAME_PORT -> value
  for (const auto& f : result.findings) {
    if (!f.host_bound()) continue;
    std::string var = env_var_name(f.service);
    auto it = allocated.find(f.service);
    ports.emplace(var, std::to_string(it == allocated.end() ? f.port : it->second));
    if (f.line < 1 || static_cast<std::size_t>(f.line) > lines.size()) continue;
    std::string& line = lines[static_cast<std::size_t>(f.line - 1)];
    std::string before = line;
    if (use_variable(line, f.port, var)) {
      fmt::print("{}:{}: {} -> {}\n", file, f.line, trim(before), trim(line));
    } else if (auto at = use_variable_long(lines, static_cast<std::size_t>(f.line - 1), f.port, var,
                                           before)) {
      fmt::print("{}:{}: {} -> {}\n", file, *at + 1, trim(before), trim(lines[*at]));
    }
  }
  // Compose project names allow only [a-z0-9_-]: one per worktree keeps two
  // worktrees' stacks from sharing containers and volumes.
  std::string name = project::service_name(id.app + "-" + id.instance);
  std::replace(name.begin(), name.end(), '.', '-');
  EnvVars vars = {{"COMPOSE_PROJECT_NAME", name}};
  for (const auto& [name, value] : ports) vars.emplace_back(name, value);
  fs::path env_path = fs::path(file).parent_path() / ".env";
  auto merged = update_env_file(env_path, vars);
  fmt::print("{} {}\n", merged.changed() ? "wrote" : "unchanged:", env_path.string());

  if (o.apply) {
    std::string rewritten;
    for (std::size_t i = 0; i < lines.size(); ++i) {
      rewritten += lines[i];
      if (i + 1 < lines.size()) rewritten += '\n';
    }
    if (rewritten == text) {
      fmt::print("{} already uses the variables\n", file);
    } else {
      // The backup holds the same text, so it gets the same permissions
      // (a compose file may be 0600 for its secrets).
      struct stat st {};
      if (::stat(file.c_str(), &st) != 0) {
        throw std::runtime_error(
            fmt::format("failed to read '{}': {}", file, std::strerror(errno)));
      }
      write_file_atomically(file + ".bak", text, st.st_mode & 07777);
      write_file_atomically(file, rewritten);
      fmt::print("rewrote {} (backup {}.bak)\n", file, file);
    }
  }
  return 0;
}

}  // namespace

Runner setup_compose(CLI::App& cmd) {
  auto o = std::make_shared<ComposeOptions>();
  cmd.add_option("-f,--file", o->file, "Compose file (default: the compose file here)");
  cmd.add_option("--app", o->app, "Application name (default: detected)");
  cmd.add_option("--instance", o->instance, "Instance name (default: detected)");
  auto* apply = cmd.add_flag("--apply", o->apply,
                             "Rewrite the compose file's ports to use the variables (keeps .bak)");
  cmd.add_flag("--yes", o->yes, "Confirm --apply")->needs(apply);
  return [o](Context& ctx) { return run_compose(ctx, *o); };
}

}  // namespace portctl
