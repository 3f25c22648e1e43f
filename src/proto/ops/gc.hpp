// gc (portd-protocol(7)): the field of its request and the shape of its
// reply, for the daemon and the client.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/allocation.hpp"
#include "proto/codec.hpp"
#include "proto/fields.hpp"

namespace portd::proto {

/// One allocation gc removed (or, in a dry run, would remove) and why.
struct GcRemoved {
  Allocation allocation;
  std::string reason;  ///< "worktree_missing", "process_dead", "lease_expired"
};

/// gc's reply.
struct GcReply {
  bool dry_run = false;
  std::vector<GcRemoved> removed;
};

/// Reads gc's optional "dry_run" into `r.dry_run`. Throws
/// Error(invalid_request) when it is not a boolean.
void read_gc(const Fields& f, Request& r);
/// Adds gc's "dry_run" (always sent) to a request map.
void add_gc(MapWriter& m, const Request& r);

/// Appends gc's reply: {"dry_run", "removed": [{allocation, reason}, ...]}.
void encode_gc_reply(std::string& out, std::uint64_t id, const GcReply& reply);
/// Reads gc's reply; absent fields read as zero and empty.
GcReply decode_gc_reply(const Response& r);

}  // namespace portd::proto
