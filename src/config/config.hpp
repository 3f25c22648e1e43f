// portd.toml: pools, reserved ports and limits (portd.toml(5)).
// No config file is a valid setup: one pool "default" = 3000-9999.
// The file format, key by key with ranges, is described at the top of
// config.cpp.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "model/allocation.hpp"

namespace portd {

/// An inclusive range of ports.
struct PortRange {
  Port first = 0;
  Port last = 0;
  bool contains(Port p) const noexcept { return p >= first && p <= last; }
  std::uint32_t size() const noexcept { return std::uint32_t{last} - first + 1; }
  bool operator==(const PortRange&) const = default;
};

/// A named range that auto-assign draws from, and the services mapped to it.
struct PoolConfig {
  std::string name;
  PortRange range;
  std::vector<std::string> services;
  bool operator==(const PoolConfig&) const = default;
};

struct Config {
  /// Never empty after load: the default is one pool "default" 3000-9999.
  std::vector<PoolConfig> pools;
  /// Pool for services no pool names.
  std::string default_pool = "default";
  /// Ports never auto-assigned (explicit requests may still take them).
  std::vector<PortRange> reserved;
  /// How long a released port is held back from other keys, seconds.
  std::int64_t freeze_seconds = std::int64_t{24} * 3600;
  /// Largest request frame, bytes.
  std::size_t max_frame = 1u << 20;
  /// Most simultaneous client connections.
  std::size_t max_connections = 512;
  /// Pending output per connection before the daemon stops reading it, bytes.
  std::size_t max_pending_output = 4u << 20;
  /// A connection silent this long while holding a partial frame is closed, seconds.
  std::int64_t idle_timeout_seconds = 60;
  /// Initial and largest LMDB map size, bytes.
  std::size_t map_size = 64u << 20;
  std::size_t max_map_size = std::size_t{4} << 30;

  /// The pool for `service`: the pool listing it, else default_pool.
  const PoolConfig& pool_for_service(std::string_view service) const;
  /// The pool called `name`, or nullptr.
  const PoolConfig* find_pool(std::string_view name) const noexcept;
  /// True when `port` is in a reserved range.
  bool is_reserved(Port port) const noexcept;
};

/// A config problem, already worded "<file>:<line>:<column>: <problem>".
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The built-in defaults (what a missing file means).
Config default_config();

/// Parses TOML text; `origin` names the source in errors. Throws ConfigError
/// for syntax errors, unknown keys, wrong types, out-of-range ports,
/// overlapping pools, a service in two pools and an unknown default pool.
Config parse_config(std::string_view text, std::string_view origin);

/// Loads `path`; a missing file gives default_config(). Throws ConfigError.
Config load_config(const std::filesystem::path& path);

}  // namespace portd
