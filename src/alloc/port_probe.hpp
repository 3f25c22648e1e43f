// Asking the OS whether something already uses a port.
#pragma once

#include <optional>

#include "model/allocation.hpp"
#include "model/error.hpp"

namespace portd {

/// What the allocator asks the OS. An interface so that tests can inject
/// answers; production uses OsPortProbe.
class PortProbe {
 public:
  virtual ~PortProbe() = default;
  /// True when some socket on this host would stop a server binding `port`.
  /// Throws portd::Error(internal) when the OS cannot answer (for example
  /// no file descriptors left to open a test socket).
  virtual bool in_use(Port port) = 0;
  /// The process holding `port`, when the OS says (best effort; may be slow:
  /// only for error messages and `check`, never for the free-port search).
  virtual std::optional<PortOwner> owner(Port port) = 0;
};

/// Bind tests like portpicker's: TCP with SO_REUSEADDR (as servers bind, so
/// TIME_WAIT does not count) and UDP, each on the IPv4 and IPv6 wildcard
/// addresses. A listener on 127.0.0.1 only, on ::1 only, or a UDP-only
/// socket all make the port count as in use. Hosts without IPv6 skip the
/// IPv6 tests. The owner lookup reads /proc/net/{tcp,tcp6,udp,udp6} and
/// /proc/<pid>/fd on Linux.
class OsPortProbe final : public PortProbe {
 public:
  /// Up to four bind tests (TCP/UDP x IPv4/IPv6 wildcard), stopping at the
  /// first that fails with EADDRINUSE or EACCES. Every test socket is closed
  /// before returning. Throws portd::Error(internal) on any other failure.
  bool in_use(Port port) override;
  /// A process with a TCP listener (state LISTEN) or a UDP socket bound to
  /// `port`. Linux only; std::nullopt elsewhere, when nothing is bound, or
  /// when the holder belongs to another user (its /proc/<pid>/fd is
  /// unreadable). Scans every process: milliseconds, not microseconds.
  std::optional<PortOwner> owner(Port port) override;
};

}  // namespace portd
