#include "proto/ops/transfer.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "proto/read.hpp"

namespace portd::proto {

void read_import(const Fields& f, Request& r, std::size_t payload_size) {
  const msgpack::object* list = f[Key::allocations];
  if (!list) fail("field 'allocations' is required");
  if (list->type != msgpack::type::ARRAY) fail("field 'allocations' must be an array");
  // Reserve by what the payload can hold, not by the header's claim: an
  // allocation map takes well over 32 bytes on the wire.
  r.records.reserve(std::min<std::size_t>(list->via.array.size, payload_size / 32));
  for (std::uint32_t i = 0; i < list->via.array.size; ++i) {
    try {
      r.records.push_back(read_allocation(list->via.array.ptr[i], true));
    } catch (const Error& e) {
      throw Error(e.code(), fmt::format("allocations[{}]: {}", i, e.what()));
    }
  }
  if (const auto* o = f[Key::replace]) r.replace = as_bool(*o, "replace");
}

void add_import(MapWriter& m, const Request& r) {
  m.value("allocations", [&](Packer& pk) { pack_allocations(pk, r.records); });
  if (r.replace) m.num("replace", true);
}

void encode_export_reply(std::string& out, std::uint64_t id, const ExportReply& reply) {
  encode_ok(out, id, [&](MapWriter& m) {
    m.num("version", reply.version);
    m.str("exported_at", reply.exported_at);
    m.value("allocations", [&](Packer& pk) { pack_allocations(pk, reply.allocations); });
  });
}

ExportReply decode_export_reply(const Response& r) {
  ExportReply out;
  out.version = static_cast<std::uint32_t>(read_or_zero(r.find("version"), "version", as_uint));
  out.exported_at = std::string(read_or_zero(r.find("exported_at"), "exported_at", as_string));
  out.allocations = unpack_allocations(r.find("allocations"), "allocations");
  return out;
}

void encode_import_reply(std::string& out, std::uint64_t id, std::uint64_t imported) {
  encode_ok(out, id, [&](MapWriter& m) { m.num("imported", imported); });
}

std::uint64_t decode_import_reply(const Response& r) {
  return read_or_zero(r.find("imported"), "imported", as_uint);
}

}  // namespace portd::proto
