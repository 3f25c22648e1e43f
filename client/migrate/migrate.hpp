// Converters from other port registries to portctl import's records
// (portctl(1) "import --from"): Atlas's ports.json, port-manager's
// registry.json and .ports.env files, port-server's SQLite database and
// the JSON of its GET /v1/allocations.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace portd::migrate {

/// One allocation found in a foreign file, before validation.
struct Row {
  std::string source;  ///< where it came from, for the report: "ports.json allocation #2"
  std::string app;
  std::string instance;
  std::string service;
  std::int64_t port = 0;  ///< as found; may be out of range
  std::string description;
  std::string worktree;
  std::string allocated_by;
  std::int64_t created_at = 0;  ///< UTC seconds; 0 = unknown (import time)
  std::uint32_t pid = 0;
};

/// A row left out, and why ("invalid name: ...", "port out of range: ...",
/// "conflicting port: ...").
struct Skip {
  Row row;
  std::string reason;
};

/// What a file yielded.
struct Converted {
  std::vector<Row> rows;
  std::vector<Skip> skipped;
};

/// Atlas ports.json: {"ranges": {...}, "allocations": [...] or {"PORT": {...}}}.
/// app: given by the caller (the repository); instance: the worktree;
/// service, description, allocated_by, allocated_at, process_id kept.
/// Throws std::runtime_error when the document has no allocations.
Converted from_atlas(const nlohmann::json& doc, const std::string& app, std::string_view file);

/// Atlas's "ranges" as [[pool]] tables for portd.toml(5) ("" when none).
std::string atlas_pools_toml(const nlohmann::json& doc);

/// port-manager registry.json: {"projects": {NAME: {"path"?, "ports"|"services":
/// {SERVICE: PORT | {"port": PORT}}}}} (or the projects map at top level).
/// app: the project name; instance: `instance`.
Converted from_port_manager(const nlohmann::json& doc, const std::string& instance,
                            std::string_view file);

/// A .ports.env file: KEY_PORT=N lines (comments, blanks and `export`
/// allowed). app: `app` (the project directory's name); service: KEY
/// lowercased with _ turned into -.
Converted from_ports_env(std::string_view text, const std::string& app, const std::string& instance,
                         std::string_view file);

/// port-server GET /v1/allocations: [{"id", "app", "instance", "service",
/// "port", "created_at"}].
Converted from_port_server_json(const nlohmann::json& doc, std::string_view file);

/// port-server's SQLite database, table allocations(id, app, instance,
/// service, port, created_at 'YYYY-MM-DD HH:MM:SS' UTC), opened read-only.
/// Throws std::runtime_error when it cannot be read.
Converted from_port_server_db(const std::string& path);

/// Moves rows with an invalid name, a port outside 1-65535, or a port or
/// key an earlier row already has, to `skipped`.
void screen(Converted& c);

/// "YYYY-MM-DD HH:MM:SS" (UTC) or RFC 3339 as UTC seconds; 0 when neither.
std::int64_t parse_timestamp(std::string_view text);

}  // namespace portd::migrate
