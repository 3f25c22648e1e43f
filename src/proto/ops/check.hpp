// check (portd-protocol(7)): the field of its request and the shape of its
// reply, for the daemon and the client.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "model/allocation.hpp"
#include "proto/codec.hpp"
#include "proto/fields.hpp"

namespace portd::proto {

/// check's reply: what portd knows about one port.
struct CheckReply {
  Port port = 0;
  bool available = false;            ///< not allocated, not reserved, not bound
  bool reserved = false;             ///< in a reserved range of the config
  bool in_use = false;               ///< the OS has something bound to it
  std::optional<Allocation> holder;  ///< the allocation holding it
  std::uint32_t pid = 0;             ///< who has it bound; 0 = not known
  std::string command;               ///< that process's command, with `pid`
};

/// Reads check's "port" (required, 1-65535) into `r.port`.
void read_check(const Fields& f, Request& r);
/// Adds check's "port" to a request map.
void add_check(MapWriter& m, const Request& r);

/// Appends check's reply: {port, available, reserved, in_use, holder?,
/// pid?, command?}; pid and command only when the pid is known (non-zero).
void encode_check_reply(std::string& out, std::uint64_t id, const CheckReply& reply);
/// Reads check's reply; absent fields read as zero. Throws
/// Error(invalid_request) naming a bad field.
CheckReply decode_check_reply(const Response& r);

}  // namespace portd::proto
