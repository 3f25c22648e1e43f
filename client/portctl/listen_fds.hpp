// `portctl exec --listen`: bind the allocated ports in portctl and pass the
// listening sockets to the command as sd_listen_fds(3) describes, so nothing
// can take a port between allocation and listen.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace portctl {

/// A TCP socket listening on `port` on every local address: IPv6 with
/// IPV6_V6ONLY off (so IPv4 clients reach it too), or IPv4 when the system
/// has no IPv6. SO_REUSEADDR is set so a server that just exited does not
/// block the port (TIME_WAIT). Returns the fd (close-on-exec); throws
/// std::runtime_error "failed to listen on port N: <cause>".
int listen_tcp(std::uint16_t port);

/// Moves `fds` to descriptors 3, 4, ... without close-on-exec, marks every
/// higher descriptor close-on-exec, and sets LISTEN_FDS (the count),
/// LISTEN_FDNAMES (`names` joined by ':') and LISTEN_PID (this process's
/// pid, which the command keeps because portctl execs in place).
/// `names.size()` must equal `fds.size()`. Throws std::runtime_error when a
/// descriptor cannot be moved.
void pass_listen_fds(const std::vector<int>& fds, const std::vector<std::string>& names);

}  // namespace portctl
