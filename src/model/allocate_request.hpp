// What an allocate asks for: the daemon's registry takes it, and the protocol
// carries it (proto::Request is one), so its fields are listed once.
#pragma once

#include <cstdint>
#include <string>

#include "model/allocation.hpp"

namespace portd {

/// Arguments of allocate (see portd-protocol(7) "allocate").
struct AllocateRequest {
  AllocationKey key;
  Port port = 0;     ///< 0 = auto-assign
  std::string pool;  ///< empty = the service's pool from the config
  std::string description;
  std::string worktree;
  std::uint32_t pid = 0;
  std::int64_t ttl_seconds = 0;  ///< lease; 0 = none
  bool replace = false;          ///< move an existing key to the explicit `port`
  bool force = false;            ///< register an explicit port that the OS has bound
  std::string allocated_by;      ///< "user@host", filled in by the daemon
  /// allocate_all only: `port` is a preference; when another key holds it,
  /// the OS has it bound or the key holds another port, auto-assign instead.
  bool prefer = false;
};

/// What allocate answers (portd-protocol(7) "allocate").
struct AllocateResult {
  Allocation allocation;
  bool created = false;  ///< false when the key already had an allocation
};

}  // namespace portd
