// portctl output: aligned tables, the JSON schema of allocations, colour,
// time formatting and atomic file writes. See portctl(1) "JSON OUTPUT".
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "portd/client.hpp"

namespace portctl {

/// JSON values keep their keys in insertion order (the documented order).
using Json = nlohmann::ordered_json;

/// An allocation as the stable JSON object of portctl(1): id, app,
/// instance, service, port, pool, description, worktree, pid, allocated_by,
/// created_at (RFC 3339), expires_at (RFC 3339 or null).
Json to_json(const portd::client::Allocation& a);
/// An array of such objects.
Json to_json(const std::vector<portd::client::Allocation>& list);
/// Reads an allocation object written by to_json() (for import). Times may
/// be RFC 3339 strings or epoch seconds. Throws std::runtime_error naming
/// the bad field.
portd::client::Allocation allocation_from_json(const Json& j);

/// Prints `j` on stdout: indented, or on one line when `compact` (watch).
void print_json(const Json& j, bool compact = false);

/// "app/instance/service".
std::string key_of(const portd::client::Allocation& a);
/// Local time as "YYYY-MM-DD HH:MM:SS" for epoch `seconds`.
std::string local_time(std::int64_t seconds);
/// UTC RFC 3339 ("2025-02-08T15:04:05Z") for epoch `seconds`.
std::string rfc3339(std::int64_t seconds);

/// Environment variable for a service's port: upper-cased, every character
/// other than [A-Z0-9] replaced by '_', "_PORT" appended, and '_' prefixed
/// when it would start with a digit ("proxy-nginx" -> "PROXY_NGINX_PORT").
std::string env_var_name(std::string_view service);

/// One NAME_PORT=N pair per allocation, sorted by variable name.
std::vector<std::pair<std::string, std::uint16_t>> port_variables(
    const std::vector<portd::client::Allocation>& list);

/// Message for a failed client call: the daemon's text, plus the holder of
/// the port or key when the text does not name it already.
std::string describe(const portd::client::Error& e);

/// ANSI styling that is a no-op when colour is off.
class Style {
 public:
  explicit Style(bool enabled) : enabled_(enabled) {}
  std::string bold(std::string_view s) const { return wrap("1", s); }
  std::string green(std::string_view s) const { return wrap("32", s); }
  std::string red(std::string_view s) const { return wrap("31", s); }
  std::string yellow(std::string_view s) const { return wrap("33", s); }

 private:
  std::string wrap(std::string_view code, std::string_view s) const;
  bool enabled_;
};

/// Columns separated by two spaces and padded to the widest cell; the last
/// column is not padded. The header row is printed bold when colour is on.
class Table {
 public:
  explicit Table(std::vector<std::string> header) : header_(std::move(header)) {}
  void add_row(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  bool empty() const noexcept { return rows_.empty(); }
  void print(std::FILE* out, const Style& style) const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

/// The whole file at `path`, as bytes (portd::sys::read_file). Throws
/// std::runtime_error "failed to read '<path>': <reason>".
std::string read_file_or_throw(const std::filesystem::path& path);

/// Writes `content` to `path` atomically: a temporary file in the same
/// directory, fsync, rename over `path`. The file gets permission bits
/// `mode` when given, else a replaced file keeps its own and a new one gets
/// 0666 & ~umask. Throws std::runtime_error "failed to write '<path>': ...".
void write_file_atomically(const std::filesystem::path& path, std::string_view content,
                           std::optional<mode_t> mode = std::nullopt);

}  // namespace portctl
