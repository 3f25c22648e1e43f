#include "proto/ops/gc.hpp"

#include "proto/read.hpp"

namespace portd::proto {

void read_gc(const Fields& f, Request& r) {
  if (const auto* o = f[Key::dry_run]) r.dry_run = as_bool(*o, "dry_run");
}

void add_gc(MapWriter& m, const Request& r) {
  m.num("dry_run", r.dry_run);
}

void encode_gc_reply(std::string& out, std::uint64_t id, const GcReply& reply) {
  encode_ok(out, id, [&](MapWriter& m) {
    m.num("dry_run", reply.dry_run);
    m.value("removed", [&](Packer& pk) {
      pk.pack_array(static_cast<std::uint32_t>(reply.removed.size()));
      for (const GcRemoved& e : reply.removed) {
        pack_map(pk, [&](MapWriter& entry) {
          entry.value("allocation", [&](Packer& p) { pack_allocation(p, e.allocation); });
          entry.str("reason", e.reason);
        });
      }
    });
  });
}

GcReply decode_gc_reply(const Response& r) {
  GcReply out;
  out.dry_run = read_or_zero(r.find("dry_run"), "dry_run", as_bool);
  const msgpack::object* removed = present(r.find("removed"));
  if (!removed) return out;
  if (removed->type != msgpack::type::ARRAY) fail("field 'removed' must be an array");
  for (std::uint32_t i = 0; i < removed->via.array.size; ++i) {
    const msgpack::object& e = removed->via.array.ptr[i];
    const msgpack::object* a = present(map_find(e, "allocation"));
    if (!a) fail("field 'removed.allocation' is required");
    GcRemoved g{unpack_allocation(*a), ""};
    g.reason = std::string(read_or_zero(map_find(e, "reason"), "removed.reason", as_string));
    out.removed.push_back(std::move(g));
  }
  return out;
}

}  // namespace portd::proto
