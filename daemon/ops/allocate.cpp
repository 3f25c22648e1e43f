// allocate and allocate_all: one service, or every service of one
// app/instance, all or nothing (request and reply: src/proto/ops/allocate.hpp).
#include "proto/ops/allocate.hpp"
#include "ops.hpp"

namespace portd::daemon {

void op_allocate(OpContext& ctx) {
  // The request is an AllocateRequest; the daemon adds who asked.
  AllocateRequest r = ctx.request;
  r.allocated_by = ctx.info.allocated_by;
  proto::encode_allocate_reply(ctx.out, ctx.request.id,
                               ctx.registry.allocate(*ctx.batch, r, ctx.now));
}

void op_allocate_all(OpContext& ctx) {
  const proto::Request& q = ctx.request;
  std::vector<AllocateRequest> requests;
  for (const proto::ServiceRequest& s : q.services) {
    AllocateRequest r;
    r.key = {q.key.app, q.key.instance, s.service};
    r.port = s.port;
    r.prefer = s.prefer;
    r.pool = s.pool;
    r.description = s.description;
    r.worktree = q.worktree;
    r.allocated_by = ctx.info.allocated_by;
    requests.push_back(std::move(r));
  }
  proto::encode_allocate_all_reply(
      ctx.out, q.id, ctx.registry.allocate_all(*ctx.batch, std::move(requests), ctx.now));
}

}  // namespace portd::daemon
