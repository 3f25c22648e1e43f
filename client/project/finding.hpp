// What `portctl scan` reports: host ports a project binds, where they are
// declared, and files it could not read. See portctl(1), "scan".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace portd::project {

/// One port declaration found in a project file.
struct Finding {
  std::string file;              ///< path as given or found (relative to the scanned PATH's parent)
  int line = 0;                  ///< 1-based line of the declaration, 0 when unknown
  std::string service;           ///< valid service name (see service_name())
  std::uint16_t port = 0;        ///< host port; for a skipped entry the container port or 0
  std::string protocol = "tcp";  ///< "tcp" or "udp"
  std::string host_ip;           ///< compose host_ip / "IP:H:C", empty when any
  std::string skipped;           ///< why the entry binds no fixed host port; empty when it does

  /// True when the entry binds a fixed host port (what init registers).
  bool host_bound() const noexcept { return skipped.empty() && port != 0; }
};

/// A file that could not be read or parsed; scanning goes on without it.
struct ScanError {
  std::string file;
  int line = 0;  ///< 1-based, 0 when unknown
  std::string message;
};

/// Findings and errors of one or more files, in the order found.
struct ScanResult {
  std::vector<Finding> findings;
  std::vector<ScanError> errors;
  void append(ScanResult other);
};

/// A valid service name (1-64 characters of [a-z0-9._-], the rule of
/// portd-protocol(7)) made from `raw`: lower-cased, runs of other
/// characters become '-', leading/trailing '-' dropped, cut to 64 bytes;
/// `fallback` when nothing is left.
std::string service_name(std::string_view raw, std::string_view fallback = "app");

/// Parses a decimal port 1-65535; 0 when `text` is anything else.
std::uint16_t parse_port(std::string_view text) noexcept;

}  // namespace portd::project
