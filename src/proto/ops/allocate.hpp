// allocate and allocate_all (portd-protocol(7)): the fields of their
// requests and the shape of their replies, for the daemon and the client.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/allocate_request.hpp"
#include "proto/codec.hpp"
#include "proto/fields.hpp"

namespace portd::proto {

/// Reads allocate's fields (key, port, pool, description, worktree, pid,
/// ttl, replace, force) into `r`, validated. Throws Error(invalid_request).
void read_allocate(const Fields& f, AllocateRequest& r);
/// Reads allocate_all's fields (app, instance, worktree, requests) into `r`.
void read_allocate_all(const Fields& f, Request& r);

/// Adds allocate's fields to a request map; optional ones only when set.
void add_allocate(MapWriter& m, const AllocateRequest& r);
/// Adds allocate_all's fields to a request map.
void add_allocate_all(MapWriter& m, const Request& r);

/// Appends allocate's reply: {"allocation", "created"}.
void encode_allocate_reply(std::string& out, std::uint64_t id, const AllocateResult& result);
/// Reads allocate's reply. Throws Error(invalid_request) naming a bad field.
AllocateResult decode_allocate_reply(const Response& r);

/// Appends allocate_all's reply: {"allocations": [...], "created": [...]}
/// in the order of the request's services.
void encode_allocate_all_reply(std::string& out, std::uint64_t id,
                               const std::vector<AllocateResult>& results);
/// Reads allocate_all's reply.
std::vector<AllocateResult> decode_allocate_all_reply(const Response& r);

}  // namespace portd::proto
