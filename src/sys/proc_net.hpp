// The kernel's tables of local sockets, /proc/net/{tcp,tcp6,udp,udp6}
// (proc(5)): which ports are bound, by whom. Used by the daemon's stats and
// port owner lookup and by `portctl who`, `free` and `check` (portctl(1)).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portd::sys {

/// One socket as a /proc/net table lists it.
struct SocketEntry {
  std::string protocol;  ///< "tcp", "tcp6", "udp" or "udp6"
  std::string address;   ///< local address as text: "127.0.0.1", "::"
  std::uint16_t port = 0;
  std::string state;  ///< "listen", "bound" (unconnected), "connected", ...
  std::uint32_t uid = 0;
  std::uint64_t inode = 0;
};

/// Parses the text of /proc/net/tcp, tcp6, udp or udp6 (`protocol` names
/// which: it decides the address width and the meaning of the state
/// column). Lines that do not parse are skipped; the header line is one.
std::vector<SocketEntry> parse_proc_net(std::string_view text, std::string_view protocol);

/// True for the sockets that keep a server from binding their port: TCP
/// listeners and TCP sockets bound but not connected; every UDP socket.
bool holds_port(const SocketEntry& s);

/// Every socket of /proc/net/tcp, tcp6, udp and udp6, each file read once.
/// std::nullopt when the tables cannot be read (not Linux, /proc not
/// mounted, or hidden from this process); a missing tcp6 or udp6 (a kernel
/// without IPv6) counts as empty. A TCP socket that is bound but neither
/// listening nor connected is in no table (the kernel lists only listening
/// and connection sockets; docs/internals.md, "Linux /proc/net"), so
/// callers that must not miss one bind-test.
std::optional<std::vector<SocketEntry>> read_socket_tables();

}  // namespace portd::sys
