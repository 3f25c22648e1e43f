// Asking the OS whether something already uses a port.
#pragma once

#include <optional>
#include <vector>

#include "config/config.hpp"
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
  /// The ports of `range` that in_use() might report in use, ascending,
  /// from one look at the OS's socket tables instead of one bind test per
  /// port; callers confirm each with in_use(). std::nullopt when the OS
  /// offers no such list (then only in_use() tells), which is the default.
  virtual std::optional<std::vector<Port>> suspects(const PortRange& range) {
    (void)range;
    return std::nullopt;
  }
};

/// Bind tests like portpicker's: TCP with SO_REUSEADDR (as servers bind, so
/// TIME_WAIT does not count) and UDP without it. A listener on 127.0.0.1
/// only, on ::1 only, or a UDP-only socket all make the port count as in
/// use. The owner lookup reads /proc/net/{tcp,tcp6,udp,udp6} and
/// /proc/<pid>/fd on Linux.
///
/// Remembers whether the host has IPv6, so calls on one probe must not run
/// concurrently.
class OsPortProbe final : public PortProbe {
 public:
  /// Bind tests, TCP before UDP, stopping at the first that fails with
  /// EADDRINUSE or EACCES. On Linux, one test per protocol on the
  /// dual-stack IPv6 wildcard ([::] with IPV6_V6ONLY=0): such a bind
  /// collides with IPv4 and IPv6 sockets alike, so it sees what separate
  /// 0.0.0.0 and [::] tests would at half the cost, which matters because
  /// this runs for every `check` and every candidate of the free-port
  /// search. On a host without IPv6 the 0.0.0.0 test stands in, and IPv6
  /// is not tried again after the first call finds it missing. Elsewhere,
  /// where the dual-stack rule is unverified, TCP and UDP each on 0.0.0.0
  /// and on [::] with IPV6_V6ONLY=1. Every test socket is closed before
  /// returning. Throws portd::Error(internal) on any other failure.
  bool in_use(Port port) override;
  /// A process with a TCP listener (state LISTEN) or a UDP socket bound to
  /// `port`. Linux only; std::nullopt elsewhere, when nothing is bound, or
  /// when the holder belongs to another user (its /proc/<pid>/fd is
  /// unreadable). Scans every process: milliseconds, not microseconds.
  std::optional<PortOwner> owner(Port port) override;
  /// Linux: the ports of `range` that some socket in /proc/net/{tcp,tcp6,
  /// udp,udp6} uses in any state but TIME_WAIT (a connected socket can stop
  /// a bind too), plus every port below 1024 (a bind there can fail with
  /// EACCES, which no table shows). Misses TCP sockets that are bound but
  /// neither listening nor connected: the kernel lists them nowhere.
  /// std::nullopt elsewhere or when /proc/net is unreadable.
  std::optional<std::vector<Port>> suspects(const PortRange& range) override;

 private:
  bool no_ipv6_ = false;  // a test found no IPv6 on this host; skip it from now on
};

}  // namespace portd
