// Which local sockets have a port bound, and which processes own them, for
// `portctl who`, `portctl free` and `portctl check` (portctl(1)).
//
// Linux reads /proc/net/{tcp,tcp6,udp,udp6} for sockets and maps their
// inodes to processes through /proc/PID/fd. macOS asks libproc (untested:
// it is compiled there but no test runs it).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sys/proc_net.hpp"

namespace portd::sys {

/// A socket bound to the port asked about, with its owner where known.
struct PortHolder {
  SocketEntry socket;
  std::uint32_t pid = 0;          ///< 0: the owner's /proc/PID/fd is unreadable (another user)
  std::string user;               ///< name of socket.uid, or the number when unnamed
  std::string command;            ///< argv joined by spaces; empty when pid is 0
  std::string cwd;                ///< working directory; empty when unreadable
  std::string executable;         ///< basename of the process's executable
  std::string container;          ///< docker container name (docker-proxy holders)
  std::string compose_project;    ///< its compose project, when it has one
  std::string container_address;  ///< "172.17.0.2:80" from docker-proxy's argv
};

/// Every socket on this host bound to `port`, sorted by pid then protocol.
/// Best effort: unreadable files are skipped, never an error.
std::vector<PortHolder> find_port_holders(std::uint16_t port);

/// From a docker-proxy command line: "-container-ip A -container-port P" as
/// "A:P"; empty when the arguments are missing.
std::string docker_proxy_target(const std::vector<std::string>& argv);

/// Parses one line of `docker ps --format '{{.Names}}\t{{.Label
/// "com.docker.compose.project"}}'` into (name, project).
std::pair<std::string, std::string> parse_docker_ps_line(std::string_view line);

/// Fills container/compose_project of docker-proxy and rootlesskit holders
/// by running `docker ps --filter publish=PORT` when docker is on PATH.
void name_containers(std::vector<PortHolder>& holders, std::uint16_t port);

/// The user name of `uid`, or the number as text.
std::string user_name(std::uint32_t uid);

}  // namespace portd::sys

namespace portd::sys {

/// True when a server could not bind `port` now: a TCP bind with
/// SO_REUSEADDR (as servers do) or a UDP bind fails on the wildcard
/// address, IPv6 dual-stack where the host has IPv6, else IPv4.
bool port_bound(std::uint16_t port);

}  // namespace portd::sys
