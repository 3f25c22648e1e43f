// stats: the number of allocations and each pool's use (reply:
// src/proto/ops/stats.hpp).
#include "proto/ops/stats.hpp"
#include "ops.hpp"

namespace portd::daemon {

/// Pools at or above this use get a warning (portd-protocol(7) "stats").
constexpr double kWarnPercent = 85.0;

void op_stats(OpContext& ctx) {
  proto::StatsReply reply;
  reply.allocations = ctx.registry.count(*ctx.batch);
  for (const PoolStats& p : ctx.registry.stats(*ctx.batch)) {
    reply.pools.push_back({p.name, p.range.first, p.range.last, p.size, p.allocated, p.free,
                           p.percent, p.percent >= kWarnPercent});
  }
  proto::encode_stats_reply(ctx.out, ctx.request.id, reply);
}

}  // namespace portd::daemon
