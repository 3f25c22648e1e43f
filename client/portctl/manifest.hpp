// The project manifest, .portd.toml at the repository root: the services a
// project needs, for `portctl up`. Format: portd-manifest(5).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "portd/client.hpp"

namespace portctl {

/// The manifest's file name, looked up at the main worktree's top.
inline constexpr std::string_view kManifestName = ".portd.toml";

/// A manifest that cannot be read or is not valid; what() is
/// "<file>:<line>:<column>: <problem>" (or "<file>: <problem>").
class ManifestError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// One [services.NAME] table.
struct ManifestService {
  std::string name;
  std::uint16_t port = 0;  ///< preferred port; 0 = any from the pool
  bool strict = false;     ///< the port is required, not a preference
  std::string pool;        ///< empty = the service's pool in portd.toml
  std::string description;
};

struct Manifest {
  std::vector<ManifestService> services;  ///< sorted by name
  std::string env_file = ".ports.env";    ///< relative to the worktree top
};

/// Parses manifest text; `origin` names it in errors. Throws ManifestError
/// for TOML syntax errors, unknown keys, wrong types, invalid service or
/// pool names, ports outside 1-65535, `strict` without a port, no services.
Manifest parse_manifest(std::string_view text, const std::string& origin);

/// The TOML text of `m` as parse_manifest() reads it back: a comment
/// naming portd-manifest(5), `env_file` when not the default, then one
/// [services.NAME] table per service with the keys that are set. Never
/// throws except std::bad_alloc.
std::string format_manifest(const Manifest& m);

/// Reads and parses `path`. Throws ManifestError (also when unreadable).
Manifest load_manifest(const std::filesystem::path& path);

/// The manifest for a worktree: .portd.toml at the main worktree's top, so
/// that every worktree of a repository reads the same one, else at the
/// worktree's own top. std::nullopt when neither exists.
std::optional<std::filesystem::path> find_manifest(const portd::client::Worktree& worktree);

}  // namespace portctl
