// gc: remove allocations whose worktree, process or lease is gone (request
// and reply: src/proto/ops/gc.hpp).
#include "proto/ops/gc.hpp"
#include "ops.hpp"

namespace portd::daemon {

void op_gc(OpContext& ctx) {
  static const LivenessProbe liveness = os_liveness();
  proto::GcReply reply;
  reply.dry_run = ctx.request.dry_run;
  for (GcEntry& e : ctx.registry.gc(*ctx.batch, reply.dry_run, ctx.now, liveness)) {
    reply.removed.push_back({std::move(e.allocation), std::move(e.reason)});
  }
  proto::encode_gc_reply(ctx.out, ctx.request.id, reply);
}

}  // namespace portd::daemon
