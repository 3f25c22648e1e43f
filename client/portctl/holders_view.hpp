// How portctl shows the processes holding a port (`who`, `check`, `free`;
// portctl(1) "who").
#pragma once

#include <cstdio>
#include <vector>

#include "portctl/output.hpp"
#include "sys/port_holders.hpp"

namespace portctl {

/// {"protocol", "address", "port", "state", "pid", "uid", "user", "command",
/// "cwd", "container", "compose_project", "container_address"}; pid and
/// the strings are null when unknown.
Json to_json(const portd::sys::PortHolder& h);

/// One block per process: "pid 1234 (user alice): COMMAND", then its
/// directory, container and sockets, each line indented by `indent`.
void print_holders(std::FILE* out, const std::vector<portd::sys::PortHolder>& holders, int indent);

/// "tcp 127.0.0.1:8080 listen" / "udp6 [::1]:53 bound".
std::string describe_socket(const portd::sys::SocketEntry& s);

}  // namespace portctl
