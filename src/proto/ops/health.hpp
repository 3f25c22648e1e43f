// hello and health (portd-protocol(7)): requests without fields, and the
// shape of their replies, for the daemon and the client.
#pragma once

#include <cstdint>
#include <string>

#include "proto/codec.hpp"

namespace portd::proto {

/// hello's reply: who answers, and what it accepts.
struct HelloReply {
  std::string server;  ///< "portd"
  std::string version;
  std::uint32_t protocol = 0;
  std::uint64_t max_frame = 0;  ///< largest request frame accepted, bytes
  std::uint32_t pid = 0;
};

/// health's reply: whether the daemon serves, and how much.
struct HealthReply {
  std::string status;  ///< "ok"
  std::string version;
  std::uint32_t pid = 0;
  std::int64_t uptime_seconds = 0;
  std::uint64_t allocations = 0;
  std::uint64_t connections = 0;
};

/// Appends hello's reply: {server, version, protocol, max_frame, pid}.
void encode_hello_reply(std::string& out, std::uint64_t id, const HelloReply& reply);
/// Reads hello's reply; absent fields read as zero. Throws
/// Error(invalid_request) naming a bad field.
HelloReply decode_hello_reply(const Response& r);

/// Appends health's reply: {status, version, pid, uptime_seconds,
/// allocations, connections} (the hexdump in portd-protocol(7)).
void encode_health_reply(std::string& out, std::uint64_t id, const HealthReply& reply);
/// Reads health's reply; absent fields read as zero.
HealthReply decode_health_reply(const Response& r);

}  // namespace portd::proto
