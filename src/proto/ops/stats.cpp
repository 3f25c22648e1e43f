#include "proto/ops/stats.hpp"

#include <fmt/format.h>

#include "proto/read.hpp"

namespace portd::proto {
namespace {

void pack_pool(Packer& pk, const PoolReply& p) {
  pack_map(pk, [&](MapWriter& m) {
    m.str("name", p.name);
    m.num("start", p.start);
    m.num("end", p.end);
    m.num("size", p.size);
    m.num("allocated", p.allocated);
    m.num("free", p.free);
    m.num("percent", p.percent);
    m.num("warning", p.warning);
  });
}

PoolReply read_pool(const msgpack::object& o) {
  PoolReply p;
  p.name = std::string(read_or_zero(map_find(o, "name"), "pools.name", as_string));
  p.start = read_or_zero(map_find(o, "start"), "pools.start", as_uint16);
  p.end = read_or_zero(map_find(o, "end"), "pools.end", as_uint16);
  p.size = read_or_zero(map_find(o, "size"), "pools.size", as_uint);
  p.allocated = read_or_zero(map_find(o, "allocated"), "pools.allocated", as_uint);
  p.free = read_or_zero(map_find(o, "free"), "pools.free", as_uint);
  p.percent = read_or_zero(map_find(o, "percent"), "pools.percent", as_double);
  p.warning = read_or_zero(map_find(o, "warning"), "pools.warning", as_bool);
  return p;
}

}  // namespace

void encode_stats_reply(std::string& out, std::uint64_t id, const StatsReply& reply) {
  encode_ok(out, id, [&](MapWriter& m) {
    m.num("allocations", reply.allocations);
    m.value("pools", [&](Packer& pk) {
      pk.pack_array(static_cast<std::uint32_t>(reply.pools.size()));
      for (const PoolReply& p : reply.pools) pack_pool(pk, p);
    });
  });
}

StatsReply decode_stats_reply(const Response& r) {
  StatsReply out;
  out.allocations = read_or_zero(r.find("allocations"), "allocations", as_uint);
  const msgpack::object* pools = present(r.find("pools"));
  if (!pools) return out;
  if (pools->type != msgpack::type::ARRAY) fail("field 'pools' must be an array");
  for (std::uint32_t i = 0; i < pools->via.array.size; ++i) {
    out.pools.push_back(read_pool(pools->via.array.ptr[i]));
  }
  return out;
}

}  // namespace portd::proto
