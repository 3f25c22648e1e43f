// list (portd-protocol(7)): the filter of its request (release takes the
// same one) and the shape of its reply, for the daemon and the client.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/allocation.hpp"
#include "proto/codec.hpp"
#include "proto/fields.hpp"

namespace portd::proto {

/// Reads the filter fields (allocation_id, app, instance, service, port)
/// into `filter`, validated; absent fields do not filter. Throws
/// Error(invalid_request) naming the bad field.
void read_filter(const Fields& f, Filter& filter);
/// Adds the filter's set fields to a request map.
void add_filter(MapWriter& m, const Filter& filter);

/// Appends list's reply: {"allocations": [...]}.
void encode_list_reply(std::string& out, std::uint64_t id,
                       const std::vector<Allocation>& allocations);
/// Reads list's reply; an absent "allocations" is an empty list.
std::vector<Allocation> decode_list_reply(const Response& r);

}  // namespace portd::proto
