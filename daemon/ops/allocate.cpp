#include "ops.hpp"

namespace portd::daemon {

void op_allocate(OpContext& ctx) {
  const proto::Request& q = ctx.request;
  AllocateRequest r;
  r.key = q.key;
  r.port = q.port;
  r.pool = q.pool;
  r.description = q.description;
  r.worktree = q.worktree;
  r.pid = q.pid;
  r.ttl_seconds = q.ttl_seconds;
  r.replace = q.replace;
  r.force = q.force;
  r.allocated_by = ctx.info.allocated_by;
  AllocateResult result = ctx.registry.allocate(*ctx.batch, r, ctx.now);
  proto::encode_ok(ctx.out, q.id, 2, [&](proto::Packer& pk) {
    proto::pack_key(pk, "allocation");
    proto::pack_allocation(pk, result.allocation);
    proto::pack_key(pk, "created");
    pk.pack(result.created);
  });
}

}  // namespace portd::daemon
