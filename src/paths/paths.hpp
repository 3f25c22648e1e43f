// Where portd's socket, database and config live (portd(1) "FILES";
// XDG Base Directory spec 0.8), and the safety checks on those directories.
#pragma once

#include <filesystem>

namespace portd {

/// Socket path: $PORTD_SOCKET, else $XDG_RUNTIME_DIR/portd/portd.sock, else
/// /tmp/portd-$UID/portd.sock (on macOS the per-user temp dir from
/// confstr(_CS_DARWIN_USER_TEMP_DIR) replaces /tmp/portd-$UID). Relative
/// XDG values are ignored, as the spec requires.
std::filesystem::path default_socket_path();

/// State directory: $XDG_STATE_HOME/portd, else ~/.local/state/portd
/// (macOS: ~/Library/Application Support/portd).
std::filesystem::path default_state_dir();

/// Config file: $XDG_CONFIG_HOME/portd/portd.toml, else ~/.config/portd/portd.toml.
std::filesystem::path default_config_path();

/// Log file that an autostarted daemon writes: <state dir>/portd.log.
std::filesystem::path default_log_path(const std::filesystem::path& state_dir);

/// The user's home directory ($HOME, else the passwd entry).
std::filesystem::path home_dir();

/// Creates `dir` (and missing parents) with mode 0700 if needed, then checks
/// with lstat that it is a real directory (not a symlink), owned by the
/// effective uid, with no group/other permission bits: the tmux/ssh-agent
/// defence against squatted /tmp directories. Never chmods or chowns.
/// Throws Error(permission_denied) "unsafe directory '<dir>': <why>" or
/// Error(internal) when it cannot be created.
void ensure_private_dir(const std::filesystem::path& dir);

/// Largest socket path the platform accepts, bytes excluding the NUL
/// (107 on Linux, 103 on macOS).
std::size_t max_socket_path_length() noexcept;

/// Throws Error(invalid_request) "socket path '<p>' is too long (N bytes, at
/// most M)" instead of letting bind() truncate it (docs/internals.md, "libuv").
void check_socket_path_length(const std::filesystem::path& path);

}  // namespace portd
