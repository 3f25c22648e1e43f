// port-manager's registry.json (projects -> services -> ports) and its
// per-project .ports.env files (KEY_PORT=N).
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <sstream>

#include "migrate/migrate.hpp"

namespace portd::migrate {
namespace {

std::int64_t port_of(const nlohmann::json& v) {
  if (v.is_number_integer()) return v.get<std::int64_t>();
  if (v.is_object()) {
    auto p = v.find("port");
    if (p != v.end() && p->is_number_integer()) return p->get<std::int64_t>();
  }
  return 0;
}

std::string trim(std::string s) {
  auto space = [](unsigned char ch) { return std::isspace(ch) != 0; };
  s.erase(s.begin(), std::find_if_not(s.begin(), s.end(), space));
  s.erase(std::find_if_not(s.rbegin(), s.rend(), space).base(), s.end());
  return s;
}

}  // namespace

Converted from_port_manager(const nlohmann::json& doc, const std::string& instance,
                            std::string_view file) {
  const nlohmann::json* projects = &doc;
  if (doc.is_object() && doc.contains("projects")) projects = &doc["projects"];
  if (!projects->is_object()) {
    throw std::runtime_error(
        fmt::format("'{}' is not a port-manager registry.json: no \"projects\" object", file));
  }
  Converted c;
  for (const auto& [name, project] : projects->items()) {
    if (!project.is_object()) continue;
    const nlohmann::json* services = nullptr;
    for (const char* key : {"services", "ports"}) {
      if (project.contains(key) && project[key].is_object()) services = &project[key];
    }
    if (!services) continue;
    std::string path;
    if (auto p = project.find("path"); p != project.end() && p->is_string()) path = *p;
    for (const auto& [service, value] : services->items()) {
      Row r;
      r.source = fmt::format("{} project {} service {}", file, name, service);
      r.app = name;
      r.instance = instance;
      r.service = service;
      r.port = port_of(value);
      r.description = path.empty() ? "" : fmt::format("port-manager project at {}", path);
      c.rows.push_back(std::move(r));
    }
  }
  return c;
}

Converted from_ports_env(std::string_view text, const std::string& app, const std::string& instance,
                         std::string_view file) {
  Converted c;
  std::istringstream lines{std::string(text)};
  std::string line;
  int number = 0;
  while (std::getline(lines, line)) {
    ++number;
    line = trim(line);
    if (line.empty() || line[0] == '#') continue;
    if (line.starts_with("export ")) line = trim(line.substr(7));
    auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string key = trim(line.substr(0, eq));
    std::string value = trim(line.substr(eq + 1));
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
        value.back() == value.front()) {
      value = value.substr(1, value.size() - 2);
    }
    if (!key.ends_with("_PORT") || key.size() == 5) continue;
    Row r;
    r.source = fmt::format("{} line {}", file, number);
    r.app = app;
    r.instance = instance;
    r.service = key.substr(0, key.size() - 5);
    std::transform(r.service.begin(), r.service.end(), r.service.begin(), [](unsigned char ch) {
      return ch == '_' ? '-' : static_cast<char>(std::tolower(ch));
    });
    try {
      std::size_t used = 0;
      r.port = std::stoll(value, &used);
      if (used != value.size()) r.port = -1;
    } catch (const std::exception&) {
      r.port = -1;
    }
    c.rows.push_back(std::move(r));
  }
  return c;
}

}  // namespace portd::migrate
