#include "project/scan.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>

#include "project/dotenv.hpp"
#include "project/makefile.hpp"
#include "project/package_json.hpp"
#include "sys/read_file.hpp"

namespace fs = std::filesystem;

namespace portd::project {
namespace {

/// The file's contents, or std::nullopt with an error recorded.
std::optional<std::string> read_text(const fs::path& path, const std::string& shown,
                                     ScanResult& result) {
  std::optional<std::string> text = portd::sys::read_file(path);
  if (!text) {
    result.errors.push_back({shown, 0, fmt::format("failed to read: {}", std::strerror(errno))});
  }
  return text;
}

/// How a path is shown: as given, joined to a directory that was given.
std::string shown_path(const std::string& dir, const std::string& name) {
  if (dir.empty() || dir == ".") return name;
  return (fs::path(dir) / name).string();
}

bool is_dotenv_name(std::string_view name) {
  return name == ".env" || name.starts_with(".env.");
}

bool is_makefile_name(std::string_view name) {
  return name == "Makefile" || name == "makefile" || name == "GNUmakefile";
}

void scan_compose_file(const fs::path& path, const std::string& shown,
                       const VariableLookup& environment, ScanResult& result) {
  auto text = read_text(path, shown, result);
  if (!text) return;
  std::map<std::string, std::string> dotenv;
  fs::path env_path = path.parent_path() / ".env";
  std::error_code ec;
  if (fs::is_regular_file(env_path, ec)) {
    for (auto& e : parse_dotenv(portd::sys::read_file(env_path).value_or(""))) {
      dotenv[e.name] = e.value;
    }
  }
  VariableLookup lookup = [&](const std::string& name) -> std::optional<std::string> {
    if (auto v = environment(name)) return v;
    if (auto it = dotenv.find(name); it != dotenv.end()) return it->second;
    return std::nullopt;
  };
  result.append(scan_compose(*text, shown, lookup));
}

/// Scans one file whose kind its name tells; false when the name is not
/// one scan knows.
bool scan_file(const fs::path& path, const std::string& shown, const VariableLookup& environment,
               ScanResult& result, bool in_scripts_dir) {
  std::string name = path.filename().string();
  if (is_compose_file_name(name)) {
    scan_compose_file(path, shown, environment, result);
    return true;
  }
  std::optional<std::string> text;
  if (name == "package.json") {
    if ((text = read_text(path, shown, result))) result.append(scan_package_json(*text, shown));
  } else if (is_dotenv_name(name)) {
    if ((text = read_text(path, shown, result))) result.append(scan_dotenv(*text, shown));
  } else if (is_makefile_name(name)) {
    if ((text = read_text(path, shown, result))) result.append(scan_commands(*text, shown, "web"));
  } else if (in_scripts_dir) {
    std::string stem = path.stem().string();
    if ((text = read_text(path, shown, result))) result.append(scan_commands(*text, shown, stem));
  } else {
    return false;
  }
  return true;
}

std::vector<fs::path> sorted_entries(const fs::path& dir) {
  std::vector<fs::path> entries;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.is_regular_file(ec)) entries.push_back(entry.path());
  }
  std::sort(entries.begin(), entries.end());
  return entries;
}

void scan_directory(const std::string& dir, const VariableLookup& environment, ScanResult& result) {
  // Compose files first: when a port is also named in .env or package.json,
  // init registers it under the compose service's name.
  auto entries = sorted_entries(dir);
  std::stable_partition(entries.begin(), entries.end(), [](const fs::path& p) {
    return is_compose_file_name(p.filename().string());
  });
  for (const auto& path : entries) {
    scan_file(path, shown_path(dir, path.filename().string()), environment, result, false);
  }
  fs::path scripts = fs::path(dir) / "scripts";
  std::error_code ec;
  if (fs::is_directory(scripts, ec)) {
    for (const auto& path : sorted_entries(scripts)) {
      scan_file(path, shown_path(dir, "scripts/" + path.filename().string()), environment, result,
                true);
    }
  }
}

}  // namespace

ScanResult scan_project(const ScanOptions& options, const VariableLookup& environment) {
  ScanResult result;
  std::vector<std::string> paths = options.paths;
  if (paths.empty() && options.compose_files.empty()) paths.emplace_back(".");
  for (const auto& file : options.compose_files) {
    std::error_code ec;
    if (!fs::is_regular_file(file, ec)) {
      result.errors.push_back({file, 0, "no such file"});
      continue;
    }
    scan_compose_file(file, file, environment, result);
  }
  for (const auto& path : paths) {
    std::error_code ec;
    auto status = fs::status(path, ec);
    if (fs::is_directory(status)) {
      scan_directory(path, environment, result);
    } else if (fs::is_regular_file(status)) {
      bool in_scripts = fs::path(path).parent_path().filename() == "scripts";
      if (!scan_file(path, path, environment, result, in_scripts)) {
        result.errors.push_back({path, 0,
                                 "not a file scan knows (compose file, package.json, "
                                 ".env*, Makefile or scripts/*)"});
      }
    } else {
      result.errors.push_back({path, 0, "no such file or directory"});
    }
  }
  return result;
}

VariableLookup process_environment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  };
}

}  // namespace portd::project
