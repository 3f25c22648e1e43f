// Who is at the other end of a local socket: the daemon accepts only its
// own user, and the client talks only to a daemon of its own user
// (portd(1) "SECURITY").
#pragma once

#include <sys/types.h>

#include <optional>

namespace portd::sys {

/// The credentials of a socket peer, as of connect(2) or socketpair(2).
struct PeerCredentials {
  uid_t uid = 0;
  gid_t gid = 0;
  pid_t pid = 0;  ///< 0 where the OS does not say
};

/// The credentials of the process at the other end of the connected
/// AF_UNIX socket `fd`: SO_PEERCRED on Linux (unix(7)); getpeereid(3) plus
/// LOCAL_PEERPID on macOS. std::nullopt, with errno set, when the OS cannot
/// tell (not a connected AF_UNIX socket, say).
std::optional<PeerCredentials> peer_credentials(int fd) noexcept;

}  // namespace portd::sys
