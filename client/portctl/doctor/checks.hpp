// The checks of `portctl doctor` (portctl(1) "doctor"). Each appends its
// findings to a Report and never throws for what it inspects: a broken
// setup is a finding, not an error. None starts a daemon.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "config/config.hpp"
#include "portctl/doctor/report.hpp"
#include "portd/client.hpp"

namespace portctl::doctor {

/// The paths and options the checks inspect.
struct Setup {
  std::filesystem::path socket;     ///< the socket portctl talks to
  std::filesystem::path state_dir;  ///< portd's default state directory
  std::filesystem::path config;     ///< portd's default config file
  portd::client::Options client;    ///< autostart always off
};

/// $XDG_RUNTIME_DIR: set, absolute and an existing directory, or which
/// fallback the socket path took.
void check_environment(Report& report);

/// The socket's directory and the state directory: real directories owned
/// by this user without group/other permissions (what portd refuses).
void check_directories(Report& report, const Setup& setup);

/// Both versions and the protocol (hello without autostart), the socket
/// file and its owner, a stale socket, and a second daemon holding the
/// state directory's lock. Returns the pid of the daemon that answered.
std::optional<std::uint32_t> check_daemon(Report& report, const Setup& setup);

/// The LMDB store, opened read-only: readable, map size and use against
/// `config.max_map_size`, readers left by dead processes.
void check_store(Report& report, const Setup& setup, const portd::Config& config);

/// Parses the config file; returns the config portd would use, or
/// std::nullopt after reporting a parse error.
std::optional<portd::Config> check_config_file(Report& report, const Setup& setup);

/// Pools against the kernel's ephemeral range, browser-unsafe ports inside
/// pools of the config file, and pools that reserved ports leave empty.
/// `from_file` is false for the built-in default, whose unsafe ports are
/// not the user's choice. Pure: unit-tested with any `ephemeral`.
void check_pools(Report& report, const portd::Config& config,
                 std::optional<portd::PortRange> ephemeral, bool from_file,
                 const std::filesystem::path& file);

/// How portd gets started: systemd user units (installed, enabled, active)
/// or the launchd agent, else portctl's autostart.
void check_autostart(Report& report);

}  // namespace portctl::doctor
