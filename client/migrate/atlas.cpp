// Atlas's registry (design/worktrees/ports.json): allocations by port with
// worktree and service; its ranges become portd.toml [[pool]] tables.
#include <fmt/format.h>

#include <stdexcept>

#include "migrate/migrate.hpp"

namespace portd::migrate {
namespace {

std::string text(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::int64_t number(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
}

Row atlas_row(const nlohmann::json& a, const std::string& app, std::string source,
              std::int64_t port) {
  Row r;
  r.source = std::move(source);
  r.app = app;
  r.instance = text(a, "worktree");
  r.service = text(a, "service");
  r.port = port;
  r.description = text(a, "description");
  r.allocated_by = text(a, "allocated_by");
  r.created_at = parse_timestamp(text(a, "allocated_at"));
  std::int64_t pid = number(a, "process_id");
  r.pid = pid > 0 && pid <= 0x7fffffff ? static_cast<std::uint32_t>(pid) : 0;
  return r;
}

}  // namespace

Converted from_atlas(const nlohmann::json& doc, const std::string& app, std::string_view file) {
  auto it = doc.is_object() ? doc.find("allocations") : doc.end();
  if (!doc.is_object() || it == doc.end() || !(it->is_array() || it->is_object())) {
    throw std::runtime_error(
        fmt::format("'{}' is not an Atlas ports.json: no \"allocations\"", file));
  }
  Converted c;
  if (it->is_array()) {
    for (std::size_t i = 0; i < it->size(); ++i) {
      const nlohmann::json& a = (*it)[i];
      if (!a.is_object()) continue;
      c.rows.push_back(
          atlas_row(a, app, fmt::format("{} allocation #{}", file, i + 1), number(a, "port")));
    }
  } else {
    for (const auto& [key, a] : it->items()) {
      if (!a.is_object()) continue;
      std::int64_t port = 0;
      try {
        port = std::stoll(key);
      } catch (const std::exception&) {
        port = -1;
      }
      c.rows.push_back(atlas_row(a, app, fmt::format("{} port \"{}\"", file, key), port));
    }
  }
  return c;
}

std::string atlas_pools_toml(const nlohmann::json& doc) {
  auto it = doc.is_object() ? doc.find("ranges") : doc.end();
  if (it == doc.end() || !it->is_object()) return "";
  std::string out;
  for (const auto& [name, range] : it->items()) {
    if (!range.is_object()) continue;
    out += fmt::format("[[pool]]\nname = \"{}\"\nrange = \"{}-{}\"\nservices = [\"{}\"]\n\n", name,
                       number(range, "start"), number(range, "end"), name);
  }
  return out;
}

}  // namespace portd::migrate
