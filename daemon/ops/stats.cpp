#include "ops.hpp"

namespace portd::daemon {

/// Pools at or above this use get a warning (portd-protocol(7) "stats").
constexpr double kWarnPercent = 85.0;

void op_stats(OpContext& ctx) {
  std::vector<PoolStats> pools = ctx.registry.stats(*ctx.batch);
  std::size_t total = ctx.registry.count(*ctx.batch);
  proto::encode_ok(ctx.out, ctx.request.id, [&](proto::MapWriter& m) {
    m.num("allocations", std::uint64_t{total});
    m.value("pools", [&](proto::Packer& pk) {
      pk.pack_array(static_cast<std::uint32_t>(pools.size()));
      for (const PoolStats& p : pools) {
        proto::pack_map(pk, [&](proto::MapWriter& pool) {
          pool.str("name", p.name);
          pool.num("start", p.range.first);
          pool.num("end", p.range.last);
          pool.num("size", p.size);
          pool.num("allocated", p.allocated);
          pool.num("free", p.free);
          pool.num("percent", p.percent);
          pool.num("warning", p.percent >= kWarnPercent);
        });
      }
    });
  });
}

}  // namespace portd::daemon
