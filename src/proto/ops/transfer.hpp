// export and import (portd-protocol(7)): the fields of their requests and
// the shape of their replies, for the daemon and the client.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "model/allocation.hpp"
#include "proto/codec.hpp"
#include "proto/fields.hpp"

namespace portd::proto {

/// export's reply: every allocation, and when they were taken.
struct ExportReply {
  std::uint32_t version = 1;  ///< of the export format
  std::string exported_at;    ///< RFC 3339
  std::vector<Allocation> allocations;
};

/// Reads import's fields ("allocations", required, each validated like a
/// stored record; "replace") into `r.records` and `r.replace`.
/// `payload_size` bounds what is reserved up front. Throws
/// Error(invalid_request) naming the bad record ("allocations[3]: ...").
void read_import(const Fields& f, Request& r, std::size_t payload_size);
/// Adds import's fields to a request map; "replace" only when set.
void add_import(MapWriter& m, const Request& r);

/// Appends export's reply: {version, exported_at, allocations}.
void encode_export_reply(std::string& out, std::uint64_t id, const ExportReply& reply);
/// Reads export's reply; absent fields read as zero and empty. Throws
/// Error(invalid_request) naming a bad field.
ExportReply decode_export_reply(const Response& r);

/// Appends import's reply: {"imported": <count>}.
void encode_import_reply(std::string& out, std::uint64_t id, std::uint64_t imported);
/// Reads import's reply: the number of records imported.
std::uint64_t decode_import_reply(const Response& r);

}  // namespace portd::proto
