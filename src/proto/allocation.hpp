// The allocation map of portd-protocol(7) ("ALLOCATIONS"): the one place its
// fields are written and read, for replies, events, errors and import.
#pragma once

#include <vector>

#include <msgpack.hpp>

#include "model/allocation.hpp"
#include "proto/sink.hpp"

namespace portd::proto {

/// Packs an allocation as a map with every field of the data model
/// (created_at/expires_at as RFC 3339 strings; expires_at omitted when 0).
void pack_allocation(Packer& pk, const Allocation& a);

/// Packs `allocations` as an array of allocation maps.
void pack_allocations(Packer& pk, const std::vector<Allocation>& allocations);

/// Reads an allocation map. Names, port and times are validated; free text
/// is checked for UTF-8 only with `check_utf8` (import records are; replies
/// are not, so that records an older daemon stored stay readable). Throws
/// Error(invalid_request) naming the bad field.
Allocation read_allocation(const msgpack::object& o, bool check_utf8);

/// Reads an allocation map of a reply: read_allocation without the UTF-8
/// check.
Allocation unpack_allocation(const msgpack::object& o);

/// Reads an array of allocation maps of a reply; absent or nil is empty.
std::vector<Allocation> unpack_allocations(const msgpack::object* o, std::string_view field);

}  // namespace portd::proto
