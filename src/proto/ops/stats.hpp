// stats (portd-protocol(7)): a request without fields, and the shape of its
// reply, for the daemon and the client.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "proto/codec.hpp"

namespace portd::proto {

/// Use of one pool, as stats reports it.
struct PoolReply {
  std::string name;
  Port start = 0;  ///< first port of the range
  Port end = 0;    ///< last port of the range (inclusive)
  std::uint64_t size = 0;
  std::uint64_t allocated = 0;
  std::uint64_t free = 0;
  double percent = 0;    ///< in use, of size, 0-100
  bool warning = false;  ///< the daemon considers the pool nearly full
};

/// stats' reply: the number of allocations and each pool's use.
struct StatsReply {
  std::uint64_t allocations = 0;
  std::vector<PoolReply> pools;
};

/// Appends stats' reply: {"allocations", "pools": [{name, start, end, size,
/// allocated, free, percent, warning}, ...]}.
void encode_stats_reply(std::string& out, std::uint64_t id, const StatsReply& reply);
/// Reads stats' reply; absent fields read as zero. Throws
/// Error(invalid_request) naming a bad field ("pools.size", ...).
StatsReply decode_stats_reply(const Response& r);

}  // namespace portd::proto
