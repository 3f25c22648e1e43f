// Ports that auto-assign never picks, whatever the pool says.
#pragma once

#include <optional>
#include <span>

#include "config/config.hpp"

namespace portd {

/// The Fetch standard's "bad ports" that browsers refuse to connect to
/// (https://fetch.spec.whatwg.org/#port-blocking), sorted.
std::span<const Port> browser_bad_ports() noexcept;
bool is_browser_bad_port(Port port) noexcept;

/// The kernel's ephemeral (local) port range: on Linux from
/// /proc/sys/net/ipv4/ip_local_port_range, on macOS from the sysctls
/// net.inet.ip.portrange.first/last. std::nullopt when it cannot be read.
std::optional<PortRange> kernel_ephemeral_range();

/// Parses the contents of ip_local_port_range ("32768\t60999\n").
std::optional<PortRange> parse_port_range(std::string_view text) noexcept;

}  // namespace portd
