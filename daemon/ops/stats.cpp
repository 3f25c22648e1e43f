#include "ops.hpp"

namespace portd::daemon {

/// Pools at or above this use get a warning (portd-protocol(7) "stats").
constexpr double kWarnPercent = 85.0;

void op_stats(OpContext& ctx) {
  std::vector<PoolStats> pools = ctx.registry.stats(*ctx.batch);
  std::size_t total = ctx.registry.count(*ctx.batch);
  proto::encode_ok(ctx.out, ctx.request.id, 2, [&](proto::Packer& pk) {
    proto::pack_key(pk, "allocations");
    pk.pack_uint64(total);
    proto::pack_key(pk, "pools");
    pk.pack_array(static_cast<std::uint32_t>(pools.size()));
    for (const PoolStats& p : pools) {
      pk.pack_map(8);
      proto::pack_key(pk, "name");
      proto::pack_string(pk, p.name);
      proto::pack_key(pk, "start");
      pk.pack_uint16(p.range.first);
      proto::pack_key(pk, "end");
      pk.pack_uint16(p.range.last);
      proto::pack_key(pk, "size");
      pk.pack_uint32(p.size);
      proto::pack_key(pk, "allocated");
      pk.pack_uint32(p.allocated);
      proto::pack_key(pk, "free");
      pk.pack_uint32(p.free);
      proto::pack_key(pk, "percent");
      pk.pack_double(p.percent);
      proto::pack_key(pk, "warning");
      pk.pack(p.percent >= kWarnPercent);
    }
  });
}

}  // namespace portd::daemon
