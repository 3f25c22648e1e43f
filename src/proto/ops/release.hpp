// release (portd-protocol(7)): the fields of its request and the shape of
// its reply, for the daemon and the client.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/allocation.hpp"
#include "proto/codec.hpp"
#include "proto/fields.hpp"

namespace portd::proto {

/// release's reply: how many allocations went, and which.
struct ReleaseReply {
  std::uint64_t released = 0;
  std::vector<Allocation> allocations;
};

/// Reads release's filter (read_filter in proto/ops/list.hpp) into
/// `r.filter`; an empty filter is refused, so that release never means
/// "everything". Throws Error(invalid_request).
void read_release(const Fields& f, Request& r);

/// Appends release's reply: {"released": <count>, "allocations": [...]}.
void encode_release_reply(std::string& out, std::uint64_t id,
                          const std::vector<Allocation>& released);
/// Reads release's reply; absent fields read as zero and empty.
ReleaseReply decode_release_reply(const Response& r);

}  // namespace portd::proto
